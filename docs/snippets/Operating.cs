using PartitionedHosting;

namespace Snippets;

public static class Operating
{
    // <snippet name="health-and-diagnostics">
    public static void MapOperations(WebApplication app)
    {
        // Both run outside the partitions: they answer while a partition is stalled or its queue is full.
        app.MapHealthChecks("/healthz").WithoutPartition();
        app.MapPartitionDiagnostics("/_partitions").RequireManagementPort(5081);
    }

    public static void AddHealth(WebApplicationBuilder builder) =>
        // Degraded while a partition is stalled or recycling, Unhealthy while one is down.
        builder.Services.AddHealthChecks().AddPartitionedHostingHealthCheck();
    // </snippet>

    // <snippet name="recycle-on-demand">
    // Replaces a partition's instance (a new container, and a new thread if single-threaded) without a restart:
    // new requests go to the new instance at once, in-flight ones finish on the old one.
    public static void MapRecycle(WebApplication app) =>
        app.MapPost("/_partitions/{id:int}/recycle", (int id, IPartitionManager partitions, CancellationToken cancellationToken) =>
                partitions.RecycleAsync(id, cancellationToken))
            .RequireManagementPort(5081);
    // </snippet>
}
