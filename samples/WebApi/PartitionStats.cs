namespace WebApi;

/// <summary>
/// Partition-local state: one instance per partition. The sample's partitions are single-threaded, so only one
/// request of a partition runs at a time and a plain increment is safe: no lock, no interlocked operation.
/// </summary>
public sealed class PartitionStats
{
    private static int s_instances;
    private long _requests;

    /// <summary>Numbers the instances of the process, so that responses show which instance served them.</summary>
    public int InstanceId { get; } = Interlocked.Increment(ref s_instances);

    /// <summary>Counts a request served by this partition and returns the count so far.</summary>
    public long CountRequest() => ++_requests;
}
