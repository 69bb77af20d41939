using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Http.Features;
using PartitionedHosting.Partitions;

namespace PartitionedHosting.Server;

/// <summary>
/// The partitioned server: Kestrel (or whichever server the application registered), with its connections assigned
/// to partitions as they are accepted (see <see cref="PartitionedConnectionListenerFactory"/>), and the partitions ready
/// before it accepts.
/// </summary>
/// <remarks>
/// Every request still goes through the inner server untouched, so its protocols, limits and configuration
/// (HTTP/1.1, HTTP/2, TLS, <c>KestrelServerLimits</c>, <c>--urls</c>) keep working; the hop into a partition happens in
/// the partitioning middleware, which also serves <c>TestServer</c>.
/// </remarks>
internal sealed class PartitionedServer(IServer inner, PartitionRuntime runtime) : IServer
{
    private const int New = 0, Started = 1, Stopped = 2;
    private int _state;

    public IFeatureCollection Features => inner.Features;

    public async Task StartAsync<TContext>(IHttpApplication<TContext> application, CancellationToken cancellationToken)
        where TContext : notnull
    {
        ArgumentNullException.ThrowIfNull(application);
        if (Interlocked.CompareExchange(ref _state, Started, New) != New)
        {
            throw new InvalidOperationException("The partitioned server has already been started.");
        }

        await runtime.StartAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
        await inner.StartAsync(application, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Stops accepting and lets the inner server drain its requests, within the host's shutdown timeout. The partitions
    /// stop later, once every hosted service has stopped (see <see cref="PartitionRuntimeLifecycle"/>): the application's
    /// hosted services may use them until then. Idempotent.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _state, Stopped) != Started)
        {
            return;
        }

        await inner.StopAsync(cancellationToken).ConfigureAwait(false);
    }

    public void Dispose()
    {
        StopAsync(new CancellationToken(canceled: true)).GetAwaiter().GetResult();
        inner.Dispose();
    }
}
