using PartitionedHosting.Partitions;
using WebApi;

var builder = WebApplication.CreateBuilder(args);

// Ordinary registrations are shared by every partition, as in any application.
builder.Services.AddSingleton(TimeProvider.System);

// Every partition gets its own instances of what the callback registers.
builder.AddPartitionedHosting(partition =>
{
    partition.Services.AddSingleton<PartitionStats>();
});

var app = builder.Build();

app.MapGet("/partition", (IPartitionContext partition, PartitionStats stats, TimeProvider time) =>
    new PartitionInfo(
        partition.Id,
        partition.PartitionCount,
        partition.Mode.ToString(),
        Environment.CurrentManagedThreadId,
        stats.InstanceId,
        stats.CountRequest(),
        time.GetUtcNow()));

app.Run();

/// <summary>The sample's entry point, public for <c>WebApplicationFactory&lt;Program&gt;</c>.</summary>
public partial class Program;
