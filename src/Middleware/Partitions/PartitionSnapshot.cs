namespace PartitionedHosting;

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
/// <param name="Rejections">Requests it answered 503 (queue full, waited too long, handoff timed out), since it started.</param>
/// <param name="LongestTurnMs">
/// A single-threaded partition's longest turn (one synchronous segment of its code) in the last 10 to 20 seconds: the
/// outlier that delays everything queued behind it. <see langword="null"/> for a free-threaded partition.
/// </param>
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
    double? StalledForMs,
    long Rejections,
    double? LongestTurnMs);
