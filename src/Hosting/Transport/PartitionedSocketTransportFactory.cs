using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using PartitionedHosting.Partitions;

namespace PartitionedHosting.Transport;

/// <summary>
/// The <c>Partitioned</c> transport's listener: accepts TCP connections itself, assigns each to a partition and gives
/// it pipes that resume in that partition (see <see cref="PartitionSocketConnection"/>).
/// </summary>
internal static class PartitionedSocketTransport
{
    private const int ListenBacklog = 512;

    public static IConnectionListener Bind(IPEndPoint endpoint, PartitionRuntime runtime)
    {
        var socket = SocketTransportOptions.CreateDefaultBoundListenSocket(endpoint);
        socket.Listen(ListenBacklog);
        return new Listener(socket, runtime);
    }

    private sealed class Listener(Socket socket, PartitionRuntime runtime) : IConnectionListener
    {
        private static long s_connections;

        public EndPoint EndPoint { get; } = socket.LocalEndPoint!;

        public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
        {
            while (true)
            {
                Socket accepted;
                try
                {
                    accepted = await socket.AcceptAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is ObjectDisposedException or OperationCanceledException || ex is SocketException { SocketErrorCode: SocketError.OperationAborted })
                {
                    return null;
                }
                catch (SocketException)
                {
                    // A connection reset before it was accepted: accept the next one.
                    continue;
                }

                Partition partition;
                try
                {
                    accepted.NoDelay = true;
                    partition = runtime.SelectPartition(accepted.RemoteEndPoint);
                }
                catch (Exception ex) when (ex is SocketException or ObjectDisposedException or InvalidOperationException)
                {
                    // A connection reset at once, or a distribution policy that failed: drop this one, keep accepting.
                    accepted.Dispose();
                    continue;
                }

                partition.OnConnectionOpened();
                var id = Interlocked.Increment(ref s_connections).ToString("X12", CultureInfo.InvariantCulture);
                var connection = new PartitionSocketConnection(accepted, partition, $"P{partition.Id}-{id}");
                connection.Start();
                return connection;
            }
        }

        public ValueTask UnbindAsync(CancellationToken cancellationToken = default)
        {
            socket.Dispose();
            return default;
        }

        public ValueTask DisposeAsync()
        {
            socket.Dispose();
            return default;
        }
    }
}
