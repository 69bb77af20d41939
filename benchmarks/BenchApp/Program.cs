using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Npgsql;
using PartitionedHosting;

// One application, run as each architecture of the benchmark (benchmarks/run.sh):
//   kestrel             plain Kestrel on the thread pool
//   processes           plain Kestrel, one of N processes sharing the port with SO_REUSEPORT
//   partitioned-single  PartitionedHosting, SingleThreaded partitions
//   partitioned-single-pool  the same with IdleResume = ThreadPool: awaits that complete while a partition's thread
//                       sleeps resume on the thread pool under the partition's turn
//   partitioned-free    PartitionedHosting, FreeThreaded partitions
//   partitioned-transport  PartitionedHosting, SingleThreaded partitions over the Partitioned transport
//   partitioned-transport-pool  the same with IdleResume = ThreadPool
//   partitioned-dedicated  partitioned-transport plus one dedicated FreeThreaded partition, at most
//                       BENCH_DEDICATED_CONCURRENCY (default 4) requests at once, that runs the blocking endpoints
//                       (/mix/block, /starve/block: RunOnPartition): the recommended setup for blocking code
// Every architecture serves the same endpoints from the same code; only the counter store of /keyed differs, as each
// architecture's user would write it (see CounterStores.cs).
// /db and /fortunes query the PostgreSQL of BENCH_DB (a connection string; benchmarks/postgres.sh starts one) through
// BENCH_DB_POOL connections in all (default 64), divided among the process's data sources: a partitioned process has one
// per partition, partition-local, unless BENCH_DB_SOURCE=shared gives it the one shared data source a user gets by
// adding AddPartitionedHosting() to an application alone.
// BENCH_STATS_PORT adds a listener for GET /_stats alone (bytes allocated and CPU time of this process), so that the
// runner can read every process of the `processes` architecture, whose shared port reaches a process at random.
// Usage: BenchApp <architecture> <port> [partitions=processor count] [http2-port]
var architecture = args.Length > 0 ? args[0] : "kestrel";
var port = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 5100;
var partitions = args.Length > 2 ? args[2] : Environment.ProcessorCount.ToString(CultureInfo.InvariantCulture);
int? http2Port = args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : null;
int? statsPort = Environment.GetEnvironmentVariable("BENCH_STATS_PORT") is { Length: > 0 } stats ? int.Parse(stats, CultureInfo.InvariantCulture) : null;
var partitioned = architecture is "partitioned-single" or "partitioned-single-pool" or "partitioned-free" or "partitioned-transport" or "partitioned-transport-pool" or "partitioned-dedicated";
var singleThreaded = architecture is "partitioned-single" or "partitioned-single-pool" or "partitioned-transport" or "partitioned-transport-pool" or "partitioned-dedicated";
var dedicated = architecture == "partitioned-dedicated";
if (!partitioned && architecture is not ("kestrel" or "processes"))
{
    Console.Error.WriteLine($"Unknown architecture '{architecture}': use kestrel, processes, partitioned-single, partitioned-single-pool, partitioned-free, partitioned-transport, partitioned-transport-pool or partitioned-dedicated.");
    return 2;
}

var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { Args = [] });
builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel =>
{
    kestrel.Listen(IPAddress.Loopback, port);
    if (http2Port is { } h2)
    {
        // Cleartext HTTP/2 needs prior knowledge, which Kestrel accepts only on an HTTP/2-only endpoint.
        kestrel.Listen(IPAddress.Loopback, h2, listen => listen.Protocols = HttpProtocols.Http2);
    }

    if (statsPort is { } statsOnly)
    {
        kestrel.Listen(IPAddress.Loopback, statsOnly);
    }
});
if (architecture == "processes")
{
    // Every process binds the same port; the kernel spreads new connections over their accept queues.
    builder.WebHost.UseSockets(sockets => sockets.CreateBoundListenSocket = endPoint =>
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        const int SolSocket = 1, SoReusePort = 15;
        socket.SetRawSocketOption(SolSocket, SoReusePort, BitConverter.GetBytes(1));
        socket.Bind(endPoint);
        return socket;
    });
}

builder.Services.AddRoutingCore();
builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = TimeSpan.FromSeconds(5));
var partitionCount = int.Parse(partitions, CultureInfo.InvariantCulture);
builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
{
    ["PartitionedHosting:PartitionCount"] = (dedicated ? partitionCount + 1 : partitionCount).ToString(CultureInfo.InvariantCulture),
    ["PartitionedHosting:Mode"] = singleThreaded ? nameof(ExecutionMode.SingleThreaded) : nameof(ExecutionMode.FreeThreaded),
    ["PartitionedHosting:Transport"] = architecture is "partitioned-transport" or "partitioned-transport-pool" or "partitioned-dedicated" ? "Partitioned" : "Kestrel",
    ["PartitionedHosting:IdleResume"] = architecture is "partitioned-single-pool" or "partitioned-transport-pool" ? "ThreadPool" : "Thread",

    // Off in this Production host unless asked for: BENCH_DETECT_ESCAPES=true measures the escape detector's cost.
    ["PartitionedHosting:DetectEscapes"] = Environment.GetEnvironmentVariable("BENCH_DETECT_ESCAPES"),
});
if (dedicated)
{
    // The last partition takes the blocking endpoints alone, on the thread pool, a bounded number at once.
    builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
    {
        [$"PartitionedHosting:Partitions:{partitionCount}:Mode"] = nameof(ExecutionMode.FreeThreaded),
        [$"PartitionedHosting:Partitions:{partitionCount}:Dedicated"] = "true",
        [$"PartitionedHosting:Partitions:{partitionCount}:MaxConcurrentRequests"] = Environment.GetEnvironmentVariable("BENCH_DEDICATED_CONCURRENCY") ?? "4",
    });
}

var db = Environment.GetEnvironmentVariable("BENCH_DB");
var dbPool = int.Parse(Environment.GetEnvironmentVariable("BENCH_DB_POOL") ?? "64", CultureInfo.InvariantCulture);
var partitionLocalDb = partitioned && Environment.GetEnvironmentVariable("BENCH_DB_SOURCE") != "shared";
if (db is not null && !partitionLocalDb)
{
    var processPool = architecture == "processes" ? Math.Max(1, dbPool / partitionCount) : dbPool;
    builder.Services.AddSingleton(_ => NpgsqlDataSource.Create(Database.ConnectionString(db, processPool)));
}

if (partitioned)
{
    // Partition-local store: one per partition. A SingleThreaded partition runs one request segment at a time, so a
    // plain Dictionary is safe; a FreeThreaded partition runs its requests in parallel and still needs a concurrent one.
    builder.AddPartitionedHosting(partition =>
    {
        if (singleThreaded)
        {
            partition.Services.AddSingleton<ICounterStore, PartitionCounterStore>();
        }
        else
        {
            partition.Services.AddSingleton<ICounterStore, ConcurrentCounterStore>();
        }

        if (db is not null && partitionLocalDb)
        {
            partition.Services.AddSingleton(_ => NpgsqlDataSource.Create(Database.ConnectionString(db, Math.Max(1, dbPool / partitionCount))));
        }
    });
}
else
{
    // One store for the process, shared by every request thread.
    builder.Services.AddSingleton<ICounterStore, ConcurrentCounterStore>();
}

var app = builder.Build();

var hello = "Hello, World!"u8.ToArray();
Task Plaintext(HttpContext context)
{
    context.Response.ContentType = "text/plain";
    context.Response.ContentLength = hello.Length;
    return context.Response.Body.WriteAsync(hello).AsTask();
}

app.MapGet("/", Plaintext);
app.MapGet("/plaintext", Plaintext);
app.MapGet("/json", () => TypedResults.Json(new JsonMessage("Hello, World!"), BenchJsonContext.Default.JsonMessage));
app.MapGet("/cpu", () => CpuWork.Run().ToString(CultureInfo.InvariantCulture));
app.MapGet("/keyed/{key}", (string key, ICounterStore store) => store.Increment(key).ToString(CultureInfo.InvariantCulture))
    .WithPartitionKey("key");
app.MapGet("/io", async () =>
{
    await Task.Delay(1);
    return "done";
});
if (db is not null)
{
    app.MapGet("/db", Database.SingleQuery);
    app.MapGet("/fortunes", Database.Fortunes);
}

// The blocking endpoints of the starvation and blocking-mix scenarios, beside the endpoints they are measured against:
// /starve/block blocks its thread in sync-over-async, as a library that hides an async call behind a synchronous API
// does; /mix/block sleeps on it. partitioned-dedicated runs them on its dedicated partition.
app.MapGet("/starve", () => "done");
var starveBlock = app.MapGet("/starve/block", () =>
{
#pragma warning disable PH0001 // Blocking on purpose: the scenario measures what blocking costs each architecture.
    Task.Delay(20).Wait();
#pragma warning restore PH0001
    return "done";
});
app.MapGet("/mix", () => "done");
var mixBlock = app.MapGet("/mix/block", () =>
{
#pragma warning disable PH0001 // Blocking on purpose: the scenario measures what blocking costs each architecture.
    Thread.Sleep(50);
#pragma warning restore PH0001
    return "done";
});
if (dedicated)
{
    starveBlock.RunOnPartition(partitionCount);
    mixBlock.RunOnPartition(partitionCount);
}

// What one request costs the server: bytes allocated and CPU time, read before and after a measured run (run.sh).
var statsEndpoint = app.MapGet("/_stats", () => Results.Text(string.Create(
    CultureInfo.InvariantCulture,
    $"{GC.GetTotalAllocatedBytes(precise: true)} {Environment.CpuUsage.TotalTime.TotalMilliseconds}")));
if (partitioned)
{
    statsEndpoint.WithoutPartition();
}

using var allocationProfile = Environment.GetEnvironmentVariable("BENCH_ALLOC_PROFILE") == "1" ? new AllocationProfile() : null;
if (allocationProfile is not null)
{
    app.Lifetime.ApplicationStopped.Register(allocationProfile.Print);
}

app.Lifetime.ApplicationStarted.Register(() => Console.WriteLine($"ready {architecture} pid {Environment.ProcessId}"));
await app.RunAsync();
return 0;
