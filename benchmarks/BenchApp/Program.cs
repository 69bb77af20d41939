using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using PartitionedHosting;

// One application, run as each architecture of the benchmark (benchmarks/run.sh):
//   kestrel             plain Kestrel on the thread pool
//   processes           plain Kestrel, one of N processes sharing the port with SO_REUSEPORT
//   partitioned-single  PartitionedHosting, SingleThreaded partitions
//   partitioned-free    PartitionedHosting, FreeThreaded partitions
//   partitioned-transport  PartitionedHosting, SingleThreaded partitions over the Partitioned transport
// Every architecture serves the same endpoints from the same code; only the counter store of /keyed differs, as each
// architecture's user would write it (see CounterStores.cs).
// Usage: BenchApp <architecture> <port> [partitions=processor count] [http2-port]
var architecture = args.Length > 0 ? args[0] : "kestrel";
var port = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 5100;
var partitions = args.Length > 2 ? args[2] : Environment.ProcessorCount.ToString(CultureInfo.InvariantCulture);
int? http2Port = args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : null;
var partitioned = architecture is "partitioned-single" or "partitioned-free" or "partitioned-transport";
var singleThreaded = architecture is "partitioned-single" or "partitioned-transport";
if (!partitioned && architecture is not ("kestrel" or "processes"))
{
    Console.Error.WriteLine($"Unknown architecture '{architecture}': use kestrel, processes, partitioned-single, partitioned-free or partitioned-transport.");
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
builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
{
    ["PartitionedHosting:PartitionCount"] = partitions,
    ["PartitionedHosting:Mode"] = singleThreaded ? nameof(ExecutionMode.SingleThreaded) : nameof(ExecutionMode.FreeThreaded),
    ["PartitionedHosting:Transport"] = architecture == "partitioned-transport" ? "Partitioned" : "Kestrel",

    // Off in this Production host unless asked for: BENCH_DETECT_ESCAPES=true measures the escape detector's cost.
    ["PartitionedHosting:DetectEscapes"] = Environment.GetEnvironmentVariable("BENCH_DETECT_ESCAPES"),
});

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
app.MapGet("/mix", (int? block) =>
{
    if (block == 1)
    {
        Thread.Sleep(50);
    }

    return "done";
});

// What one request costs the server: bytes allocated and CPU time, read before and after a measured run (run.sh).
var stats = app.MapGet("/_stats", () => Results.Text(string.Create(
    CultureInfo.InvariantCulture,
    $"{GC.GetTotalAllocatedBytes(precise: true)} {Environment.CpuUsage.TotalTime.TotalMilliseconds}")));
if (partitioned)
{
    stats.WithoutPartition();
}

using var allocationProfile = Environment.GetEnvironmentVariable("BENCH_ALLOC_PROFILE") == "1" ? new AllocationProfile() : null;
if (allocationProfile is not null)
{
    app.Lifetime.ApplicationStopped.Register(allocationProfile.Print);
}

app.Lifetime.ApplicationStarted.Register(() => Console.WriteLine($"ready {architecture} pid {Environment.ProcessId}"));
await app.RunAsync();
return 0;
