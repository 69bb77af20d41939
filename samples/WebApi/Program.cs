using PartitionedHosting;
using WebApi;

var builder = WebApplication.CreateBuilder(args);

// Ordinary registrations are shared by every partition, as in any application.
builder.Services.AddSingleton(TimeProvider.System);
builder.Services.ConfigureHttpJsonOptions(json => json.SerializerOptions.DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull);

// Every partition gets its own instances of what the callback registers.
builder.AddPartitionedHosting(partition =>
{
    partition.Services.AddSingleton<PartitionStats>();
    partition.Services.AddSingleton<CounterStore>();

    // Counters move with their slots when the partition count changes or a slot is moved by hand.
    partition.Services.AddSingleton<IPartitionStateHandoff>(sp => sp.GetRequiredService<CounterStore>());
});

// Traces and metrics through OpenTelemetry when configuration names an exporter (OpenTelemetry:Exporter = Console, or
// Otlp with the standard OTEL_EXPORTER_OTLP_ENDPOINT): each request's server span carries partition.id and
// partition.generation (and, keyed, partition.key.slot; moved to its key's owner, partition.owner.id too).
builder.AddSampleTelemetry();

// Degraded while a partition is stalled or recycling, Unhealthy when one is down.
builder.Services.AddHealthChecks().AddPartitionedHostingHealthCheck();

var app = builder.Build();

// Both run outside the partitions, so they answer while partitions are stalled or full. Health is public (for load
// balancers); diagnostics only on the management port, which appsettings.json binds to 127.0.0.1.
app.MapHealthChecks("/healthz").WithoutPartition();
app.MapPartitionDiagnostics("/_partitions").RequireManagementPort(app.Configuration.GetValue("ManagementPort", 5081));

app.MapGet("/partition", (IPartitionContext partition, PartitionStats stats, TimeProvider time) =>
    new PartitionInfo(
        partition.Id,
        partition.PartitionCount,
        partition.Mode.ToString(),
        Environment.CurrentManagedThreadId,
        stats.InstanceId,
        stats.CountRequest(),
        time.GetUtcNow()));

// Keyed endpoints: every request for a key runs on the partition that owns it, so the store needs no lock. Behind a
// proxy (samples/Proxy), the node that owns the key serves it; the response names the node.
var node = app.Configuration["PartitionedHosting:Cluster:Self"];
app.MapPost("/counters/{key}", (string key, CounterStore store, IPartitionContext partition) =>
    new Counter(key, store.Increment(key), partition.Id, node))
    .WithPartitionKey("key");

app.MapGet("/counters/{key}", (string key, CounterStore store, IPartitionContext partition) =>
    new Counter(key, store.Get(key), partition.Id, node))
    .WithPartitionKey("key");

// A fan-out: each partition sums its own counters, on its own thread.
app.MapGet("/counters", async (IPartitionInvoker partitions, CancellationToken cancellationToken) =>
{
    var counters = await partitions.InvokeAllAsync(
        (partition, _) => Task.FromResult(partition.Services.GetRequiredService<CounterStore>().Snapshot(partition.Id)),
        cancellationToken);
    return new CounterTotals(counters.Sum(c => c.Total), counters);
});

app.Run();

/// <summary>The sample's entry point, public for <c>WebApplicationFactory&lt;Program&gt;</c>.</summary>
public partial class Program;
