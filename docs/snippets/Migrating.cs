using PartitionedHosting;

namespace Snippets;

public static class Migrating
{
    // <snippet name="add-partitioned-hosting">
    public static WebApplication Build(string[] args)
    {
        var builder = WebApplication.CreateBuilder(args);

        // Everything registered here stays as it was: one instance per process, shared by every partition.
        builder.Services.AddSingleton(TimeProvider.System);

        // The one line that partitions the application. Without a callback, nothing is partition-local yet:
        // requests are spread over the partitions and run in their mode, with the application's services.
        builder.AddPartitionedHosting();

        var app = builder.Build();
        app.MapGet("/", (IPartitionContext partition) => $"partition {partition.Id} of {partition.PartitionCount}");
        return app;
    }
    // </snippet>

    // <snippet name="static-state-before">
    // Before: static state, shared by every partition of the process (and by every thread).
    public static class VisitCounter
    {
        private static long s_visits;

        public static long Visit() => Interlocked.Increment(ref s_visits);
    }
    // </snippet>

    // <snippet name="static-state-after">
    // After: a partition-local service. Each partition counts its own visits on its own thread; the total is a fan-out.
    public sealed class Visits
    {
        public long Count { get; private set; }

        public long Visit() => ++Count;
    }

    public static void Register(WebApplicationBuilder builder) =>
        builder.AddPartitionedHosting(partition => partition.Services.AddSingleton<Visits>());

    public static async Task<long> TotalAsync(IPartitionInvoker partitions, CancellationToken cancellationToken)
    {
        var counts = await partitions.InvokeAllAsync(
            (partition, _) => Task.FromResult(partition.Services.GetRequiredService<Visits>().Count),
            cancellationToken);
        return counts.Sum();
    }
    // </snippet>

    // <snippet name="keyed-endpoint">
    public static void MapCarts(WebApplication app) =>
        app.MapPost("/carts/{id}/items", (string id, string item, CartStore carts) => carts.Add(id, item))
            .WithPartitionKey("id");
    // </snippet>
}
