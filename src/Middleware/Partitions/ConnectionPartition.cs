using PartitionedHosting.Execution;

namespace PartitionedHosting.Partitions;

/// <summary>
/// A connection's partition, as its <see cref="IPartitionFeature"/>, which every request of the connection sees through
/// the server's fallback from request features to connection features. While an HTTP/1.x request of the connection runs
/// in the partition, it names the instance serving that request (a recycle may make another one current meanwhile), so
/// that the request needs no feature of its own: setting one per request measured several percent of a small request's
/// CPU time (README, "Where FreeThreaded's cost goes").
/// </summary>
/// <remarks>
/// The next request of an HTTP/1.x connection starts only after the previous one ended (its <c>OnCompleted</c>
/// callbacks have run; the partitioning middleware's, which ends the naming, runs last of those registered from the
/// middleware on). Code that runs after it (<c>OnCompleted</c> callbacks registered before the middleware, the host's
/// end of the request) sees the partition's current instance, as requests outside the partitions do. The streams of an
/// HTTP/2 connection run at once: each sets a feature of its own, and a connection of the <c>Partitioned</c> transport
/// (<paramref name="scheduling"/>) leaves its partition's thread.
/// </remarks>
internal sealed class ConnectionPartition(Partition partition, IConnectionScheduling? scheduling = null) : IPartitionFeature
{
    private PartitionInstance? _serving;
    private int _multiplexed;

    /// <summary>The partition the connection was assigned to.</summary>
    public Partition Partition => partition;

    IPartitionContext IPartitionFeature.Partition => Volatile.Read(ref _serving) ?? partition.Current;

    /// <summary>
    /// The connection carries concurrent requests (HTTP/2): from now on none names its instance here, and the
    /// connection's I/O leaves its partition's thread (see <see cref="IConnectionScheduling"/>).
    /// </summary>
    /// <remarks>Every stream calls it: written once, so that the streams' threads do not contend for the line.</remarks>
    public void SetMultiplexed()
    {
        if (Volatile.Read(ref _multiplexed) == 0 && Interlocked.Exchange(ref _multiplexed, 1) == 0)
        {
            scheduling?.LeavePartitionThread();
        }
    }

    /// <summary>Names <paramref name="instance"/> as serving the connection's request; false on a multiplexed connection.</summary>
    public bool TryServe(PartitionInstance instance) =>
        Volatile.Read(ref _multiplexed) == 0 && Interlocked.CompareExchange(ref _serving, instance, null) is null;

    /// <summary>The request that <see cref="TryServe"/> named its instance for has ended.</summary>
    public void EndServing() => Volatile.Write(ref _serving, null);
}
