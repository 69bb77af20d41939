namespace PartitionedHosting.Execution;

/// <summary>
/// A connection of the <c>Partitioned</c> transport whose I/O and parsing resume on its single-threaded partition's
/// thread: its <see cref="Partitions.ConnectionPartition"/> tells it when it turns out to carry multiplexed streams
/// (HTTP/2), which the server queues to the thread pool one by one.
/// </summary>
internal interface IConnectionScheduling
{
    /// <summary>
    /// From now on the connection's I/O and frame processing resume on the thread pool: its streams hop into the
    /// partition anyway, and one that holds the partition's thread must not hold up the connection's other streams.
    /// </summary>
    void LeavePartitionThread();
}
