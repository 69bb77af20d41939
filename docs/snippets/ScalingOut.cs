using System.Runtime.InteropServices;
using PartitionedHosting;

namespace Snippets;

// <snippet name="handoff">
// Partition-local state keyed like the requests that use it; it moves with its slots on a resize or a move.
public sealed class Counters : IPartitionStateHandoff
{
    private readonly Dictionary<string, long> _counters = [];

    public long Increment(string key) => ++CollectionsMarshal.GetValueRefOrAddDefault(_counters, key, out _);

    public ValueTask<object?> ExportAsync(IPartitionContext partition, IReadOnlySet<int> slots, CancellationToken cancellationToken)
    {
        var moving = _counters.Where(c => slots.Contains(PartitionKeySlots.GetSlot(c.Key))).ToList();
        moving.ForEach(c => _counters.Remove(c.Key));
        return ValueTask.FromResult<object?>(moving);
    }

    public ValueTask ImportAsync(IPartitionContext partition, IReadOnlySet<int> slots, object? state, CancellationToken cancellationToken)
    {
        foreach (var (key, value) in (List<KeyValuePair<string, long>>)state!)
        {
            _counters[key] = value;
        }

        return ValueTask.CompletedTask;
    }
}
// </snippet>

public static class ScalingOut
{
    // <snippet name="register-handoff">
    public static void Register(WebApplicationBuilder builder) =>
        builder.AddPartitionedHosting(partition =>
        {
            partition.Services.AddSingleton<Counters>();
            partition.Services.AddSingleton<IPartitionStateHandoff>(sp => sp.GetRequiredService<Counters>());
        });
    // </snippet>

    // <snippet name="resize-and-move">
    public static void MapKeyMapOperations(WebApplication app)
    {
        // Grow or shrink while serving: only the slots whose owner changes move, with their state.
        app.MapPost("/_partitions/resize/{count:int}", (int count, IPartitionManager partitions) => partitions.ResizeAsync(count))
            .RequireManagementPort(5081);

        // Give a hot key a partition of its own.
        app.MapPost("/_partitions/move/{key}/{partition:int}", (string key, int partition, IPartitionManager partitions) =>
                partitions.MoveSlotAsync(PartitionKeySlots.GetSlot(key), partition))
            .RequireManagementPort(5081);
    }
    // </snippet>

    // <snippet name="proxy">
    public static WebApplication BuildProxy(string[] args)
    {
        var builder = WebApplication.CreateBuilder(args);
        builder.Services.AddReverseProxy()
            .LoadFromConfig(builder.Configuration.GetSection("ReverseProxy"))
            .AddPartitionKeyLoadBalancing();                 // binds PartitionedHosting:Keys and :Cluster:Nodes

        var app = builder.Build();
        app.MapReverseProxy(proxy =>
        {
            proxy.UsePartitionOwnerFailClosed();             // keyed requests to their owner only; owner down: 503 + Retry-After
            proxy.UseSessionAffinity();
            proxy.UseLoadBalancing();
            proxy.UsePassiveHealthChecks();
        });
        return app;
    }
    // </snippet>
}
