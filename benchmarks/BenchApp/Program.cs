using System.Net;
using PartitionedHosting;

// One application, run as each architecture of the benchmark:
//   kestrel             plain Kestrel on the thread pool
//   partitioned-single  PartitionedHosting, SingleThreaded partitions
//   partitioned-free    PartitionedHosting, FreeThreaded partitions
// Usage: BenchApp <architecture> <port> [partitions]
var architecture = args.Length > 0 ? args[0] : "kestrel";
var port = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 5100;
var partitions = args.Length > 2 ? args[2] : Environment.ProcessorCount.ToString(System.Globalization.CultureInfo.InvariantCulture);

var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { Args = [] });
builder.WebHost.UseKestrelCore().ConfigureKestrel(k => k.Listen(IPAddress.Loopback, port));
builder.Services.AddRoutingCore();
builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
{
    ["PartitionedHosting:PartitionCount"] = partitions,
    ["PartitionedHosting:Mode"] = architecture == "partitioned-single" ? nameof(ExecutionMode.SingleThreaded) : nameof(ExecutionMode.FreeThreaded),
});

if (architecture.StartsWith("partitioned", StringComparison.Ordinal))
{
    builder.AddPartitionedHosting();
}

var app = builder.Build();
var hello = "Hello, World!"u8.ToArray();
app.Run(context =>
{
    context.Response.ContentType = "text/plain";
    context.Response.ContentLength = hello.Length;
    return context.Response.Body.WriteAsync(hello).AsTask();
});
app.Run();
