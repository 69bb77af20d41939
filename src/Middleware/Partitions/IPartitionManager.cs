namespace PartitionedHosting.Partitions;

/// <summary>Operates the partitions: their state, and recycling on demand.</summary>
public interface IPartitionManager
{
    /// <summary>A snapshot of every partition, by id.</summary>
    /// <returns>The snapshots.</returns>
    IReadOnlyList<PartitionSnapshot> GetSnapshots();

    /// <summary>
    /// Replaces a partition with a new instance (a new container, and a new thread if single-threaded) without
    /// restarting the process: new requests go to the new instance at once, in-flight ones finish on the old one,
    /// which is then disposed. Waits for a recycle slot (<c>MaxConcurrentRecycles</c>). Also returns an unhealthy
    /// partition to service.
    /// </summary>
    /// <param name="partitionId">The partition.</param>
    /// <param name="cancellationToken">Stops waiting for a recycle slot.</param>
    /// <returns>A task that completes when the new instance serves (the old one may still be draining).</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="partitionId"/> is not a partition.</exception>
    Task RecycleAsync(int partitionId, CancellationToken cancellationToken = default);
}

/// <summary>The state of one partition at one moment.</summary>
/// <param name="Id">The partition id.</param>
/// <param name="Mode">Its execution mode.</param>
/// <param name="State">Its health.</param>
/// <param name="Generation">Its current instance: 1, then one more per recycle.</param>
/// <param name="ActiveConnections">Open connections assigned to it.</param>
/// <param name="ActiveRequests">Requests admitted and not finished, on its current instance.</param>
/// <param name="QueueLength">Requests waiting to start.</param>
/// <param name="Requests">Requests admitted by its current instance.</param>
/// <param name="Recycles">How many times it was recycled.</param>
/// <param name="LastRecycledAt">When it was last recycled.</param>
/// <param name="LastRecycleCause">Why.</param>
/// <param name="StalledForMs">How long its current segment has run, when stalled.</param>
public sealed record PartitionSnapshot(
    int Id,
    ExecutionMode Mode,
    PartitionState State,
    int Generation,
    int ActiveConnections,
    int ActiveRequests,
    int QueueLength,
    long Requests,
    int Recycles,
    DateTimeOffset? LastRecycledAt,
    RecycleCause? LastRecycleCause,
    double? StalledForMs);
