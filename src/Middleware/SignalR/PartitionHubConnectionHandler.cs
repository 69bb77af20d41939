using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using PartitionedHosting.DependencyInjection;
using PartitionedHosting.Execution;
using PartitionedHosting.Partitions;

namespace PartitionedHosting.SignalR;

/// <summary>
/// SignalR's connection handler for a hub, run in the partition of the request that started the SignalR connection:
/// on that partition's thread when it is single-threaded, with hubs and hub filters activated from that partition's
/// services.
/// </summary>
/// <remarks>
/// <para>
/// SignalR starts a connection's application on the thread pool and runs it outside the middleware pipeline: its
/// handshake, its message loop, hub activation, filters and hub methods. This handler starts it on the partition
/// instead, and keeps it there: the loop awaits reads of the connection's input pipe, which resume on the thread pool
/// whatever the caller's synchronization context (SignalR's pipes do not use it), so the connection given to SignalR
/// has an input whose pending reads come back through the partition's context (see <see cref="PartitionHubConnection"/>).
/// </para>
/// <para>
/// The dispatcher creates a service scope for every invocation and activates the hub from it; the scope factory given
/// to it (<see cref="PartitionHubScopeFactory"/>) creates that scope from the partition's services.
/// </para>
/// </remarks>
internal sealed class PartitionHubConnectionHandler<THub> : HubConnectionHandler<THub>
    where THub : Hub
{
    public PartitionHubConnectionHandler(
        HubLifetimeManager<THub> lifetimeManager,
        IHubProtocolResolver protocolResolver,
        IOptions<HubOptions> globalHubOptions,
        IOptions<HubOptions<THub>> hubOptions,
        ILoggerFactory loggerFactory,
        IUserIdProvider userIdProvider,
        IServiceScopeFactory serviceScopeFactory)
        : base(lifetimeManager, protocolResolver, globalHubOptions, hubOptions, loggerFactory, userIdProvider, new PartitionHubScopeFactory(serviceScopeFactory))
    {
    }

    public override Task OnConnectedAsync(ConnectionContext connection)
    {
        // The request that started the connection ran in a partition when its services are a partition's: the
        // WebSocket or Server-Sent Events request itself, or, under long polling, the first poll (whose services
        // SignalR keeps for the connection).
        if (connection.Features.Get<Microsoft.AspNetCore.Http.Connections.Features.IHttpContextFeature>()?.HttpContext?.RequestServices is not PartitionServiceProvider services ||
            services.Partition is not PartitionInstance instance)
        {
            return base.OnConnectedAsync(connection);
        }

        return instance.InvokeAsync(static s => ((Run)s).Execute(), new Run(this, instance, connection));
    }

    private async Task RunInPartitionAsync(PartitionInstance instance, ConnectionContext connection)
    {
        // Flows into every await of the connection's application: the scope factory reads it, and, when it watches,
        // the escape detector.
        PartitionHubScopeFactory.CurrentPartition = instance;
        if (instance.Thread is { } thread && instance.Runtime.Escapes is { } escapes)
        {
            PartitionFlow.Current = new PartitionFlow(thread, instance.Id, connection.GetHttpContext()?.Request.Path.Value, guarded: false, escapes);
        }

        // The application may outlive the request that started it (long polling): the instance follows it, so that a
        // recycle waits for it, and aborts it after its drain timeout.
        using var inFlight = instance.TrackConnection(connection);
        await base.OnConnectedAsync(instance.Thread is { } partitionThread ? new PartitionHubConnection(connection, partitionThread) : connection).ConfigureAwait(false);
    }

    private sealed class Run(PartitionHubConnectionHandler<THub> handler, PartitionInstance instance, ConnectionContext connection)
    {
        public Task Execute() => handler.RunInPartitionAsync(instance, connection);
    }
}
