namespace PartitionedHosting;

/// <summary>
/// What runs the code of a <see cref="ExecutionMode.SingleThreaded"/> partition that becomes ready (an <c>await</c>
/// whose task completed) while the partition's thread sleeps.
/// </summary>
public enum IdleResume
{
    /// <summary>
    /// The partition's thread wakes up and runs it: all of the partition's code runs on its one thread. Costs a
    /// wake-up of the thread (a context switch) whenever the partition was idle. The default.
    /// </summary>
    Thread,

    /// <summary>
    /// The thread pool runs it, and the partition's thread sleeps on: the thread-pool thread takes the partition's
    /// turn and stands in for the thread (the partition's context, its services, one synchronous segment at a time),
    /// then runs whatever else the partition has queued, for at most 1 ms, before giving the turn back. Saves the
    /// wake-up of the partition's thread on I/O-bound partitions (a database call per request); the code no longer
    /// always runs on the same thread, and a partition that waits on I/O waits on the thread pool to resume it.
    /// </summary>
    ThreadPool,
}
