namespace PartitionedHosting;

/// <summary>
/// A cross-partition call was refused at once, as a request would be answered 503: the target partition's queue is full
/// (<c>Admission:MaxQueueLength</c>), or the partition is stalled or unhealthy.
/// </summary>
public sealed class PartitionUnavailableException : Exception
{
    /// <summary>Creates the exception for partition <paramref name="partitionId"/> in <paramref name="state"/>.</summary>
    /// <param name="partitionId">The partition that refused the call.</param>
    /// <param name="state">Its state when it refused.</param>
    /// <param name="queueFull">Whether it refused because its queue was full.</param>
    public PartitionUnavailableException(int partitionId, PartitionState state, bool queueFull)
        : base(queueFull
            ? $"Partition {partitionId} refused the call: its queue is full (Admission:MaxQueueLength)."
            : $"Partition {partitionId} refused the call: it is {state}.")
    {
        PartitionId = partitionId;
        State = state;
        QueueFull = queueFull;
    }

    /// <summary>The partition that refused the call.</summary>
    public int PartitionId { get; }

    /// <summary>The partition's state when it refused.</summary>
    public PartitionState State { get; }

    /// <summary>Whether the partition refused because its queue was full.</summary>
    public bool QueueFull { get; }
}
