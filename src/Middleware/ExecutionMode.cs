namespace PartitionedHosting;

/// <summary>
/// How a partition runs the code of the requests assigned to it.
/// </summary>
public enum ExecutionMode
{
    /// <summary>
    /// The thread pool runs the partition's requests, fully in parallel. Partition-local state shared between
    /// concurrent requests must be thread-safe.
    /// </summary>
    FreeThreaded,

    /// <summary>
    /// One dedicated thread runs all of the partition's request code, one synchronous segment at a time; requests
    /// interleave only at awaits, as in an event loop. Partition-local state needs no locks.
    /// </summary>
    SingleThreaded,
}
