using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Options;
using PartitionedHosting.Partitions;
using PartitionedHosting.Transport;

namespace PartitionedHosting.Server;

/// <summary>
/// Decorates the server's transport so that each accepted connection is assigned a partition by the configured
/// <see cref="IConnectionDistributionPolicy"/>, before the server reads a byte of it. The partition is
/// set on the connection as its <see cref="IPartitionFeature"/> (a <see cref="ConnectionPartition"/>, which also names
/// the instance serving the connection's HTTP/1.x request while it runs), which every request of the connection (and
/// every HTTP/2 stream) sees in <c>HttpContext.Features</c>; it is kept for the connection's lifetime. With
/// <c>Transport = Partitioned</c>, TCP end points are served by the partitioned transport instead.
/// </summary>
internal sealed class PartitionedConnectionListenerFactory(
    IConnectionListenerFactory inner, PartitionRuntime runtime, IOptions<PartitionedHostingOptions> options, PartitionedSocketTransportFactory partitionedTransport)
    : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    // The options are read when binding, at server start, after they were validated.
    public async ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default) =>
        options.Value.Transport == PartitionTransport.Partitioned && endpoint is IPEndPoint ip
            ? partitionedTransport.Bind(ip)
            : new Listener(await inner.BindAsync(endpoint, cancellationToken).ConfigureAwait(false), runtime);

    public bool CanBind(EndPoint endpoint) =>
        endpoint is IPEndPoint || inner is not IConnectionListenerFactorySelector selector || selector.CanBind(endpoint);

    private sealed class Listener(IConnectionListener inner, PartitionRuntime runtime) : IConnectionListener
    {
        public EndPoint EndPoint => inner.EndPoint;

        public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
        {
            var connection = await inner.AcceptAsync(cancellationToken).ConfigureAwait(false);
            if (connection is not null && runtime.IsRunning)
            {
                var partition = runtime.SelectPartition(connection.RemoteEndPoint);
                connection.Features.Set<IPartitionFeature>(new ConnectionPartition(partition));
                partition.OnConnectionOpened(connection);
            }

            return connection;
        }

        public ValueTask UnbindAsync(CancellationToken cancellationToken = default) => inner.UnbindAsync(cancellationToken);

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
