using System.Buffers;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using PartitionedHosting.Partitions;

namespace PartitionedHosting.Transport;

/// <summary>
/// The <c>Partitioned</c> transport: accepts TCP connections itself, assigns each to a partition and gives it pipes that
/// resume in that partition (see <see cref="PartitionSocketConnection"/>). It honours Kestrel's
/// <see cref="SocketTransportOptions"/> (<c>Backlog</c>, <c>NoDelay</c>, <c>MaxReadBufferSize</c>,
/// <c>MaxWriteBufferSize</c>, <c>WaitForDataBeforeAllocatingBuffer</c>) and takes its buffers from the server's memory
/// pool (<see cref="IMemoryPoolFactory{T}"/>: Kestrel's pinned block pool), one pool per listener, as Kestrel's socket
/// transport does.
/// </summary>
internal sealed class PartitionedSocketTransportFactory(
    PartitionRuntime runtime,
    IOptions<SocketTransportOptions> options,
    IMemoryPoolFactory<byte>? memoryPoolFactory,
    ILoggerFactory loggerFactory)
{
    private readonly ILogger _logger = loggerFactory.CreateLogger("PartitionedHosting.Transport");

    public IConnectionListener Bind(IPEndPoint endpoint)
    {
        var settings = options.Value;
        var socket = settings.CreateBoundListenSocket(endpoint);
        socket.Listen(settings.Backlog);
        var pool = memoryPoolFactory?.Create() ?? MemoryPool<byte>.Shared;
        var connectionSettings = new PartitionSocketConnectionSettings(
            pool,
            settings.MaxReadBufferSize ?? 0,
            settings.MaxWriteBufferSize ?? 0,
            settings.WaitForDataBeforeAllocatingBuffer,
            _logger);
        return new Listener(socket, runtime, settings.NoDelay, connectionSettings);
    }

    private sealed class Listener(Socket socket, PartitionRuntime runtime, bool noDelay, PartitionSocketConnectionSettings settings) : IConnectionListener
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
                catch (SocketException ex)
                {
                    // A connection reset before it was accepted: accept the next one.
                    PartitionedTransportLog.AcceptFailed(settings.Logger, ex.SocketErrorCode);
                    continue;
                }

                Partition partition;
                try
                {
                    accepted.NoDelay = noDelay;
                    partition = runtime.SelectPartition(accepted.RemoteEndPoint);
                }
                catch (SocketException ex)
                {
                    // A connection reset at once: drop this one, keep accepting. (A failing distribution policy does
                    // not throw here: the runtime logs it and picks a partition in turn.)
                    PartitionedTransportLog.AcceptFailed(settings.Logger, ex.SocketErrorCode);
                    accepted.Dispose();
                    continue;
                }

                var id = Interlocked.Increment(ref s_connections).ToString("X12", CultureInfo.InvariantCulture);
                var connection = new PartitionSocketConnection(accepted, partition, $"P{partition.Id}-{id}", settings);
                partition.OnConnectionOpened(connection);
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

            // As Kestrel's socket transport: the server disposes listeners after their connections have closed.
            settings.Pool.Dispose();
            return default;
        }
    }
}
