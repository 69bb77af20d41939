using System.IO.Pipelines;
using PartitionedHosting.Execution;

namespace PartitionedHosting.Transport;

/// <summary>
/// The scheduler of a <see cref="PartitionSocketConnection"/>'s pipes: its partition's, so that parsing and requests run
/// on the partition's thread, until the connection is found to carry HTTP/2 streams; the thread pool from then on (see
/// <see cref="IConnectionScheduling"/>).
/// </summary>
/// <remarks>
/// Continuations scheduled before the switch stay queued on the partition's thread, in order; one scheduled while it
/// happens may still go there, behind a request the switch's caller queues right after. Only a request that then holds
/// the thread for long delays it, and only once.
/// </remarks>
internal sealed class PartitionConnectionScheduler(PipeScheduler partition) : PipeScheduler
{
    private volatile bool _threadPool;

    /// <summary>The connection's pipes resume on the thread pool from now on.</summary>
    public void UseThreadPool() => _threadPool = true;

    public override void Schedule(Action<object?> action, object? state)
    {
        if (_threadPool)
        {
            System.Threading.ThreadPool.UnsafeQueueUserWorkItem(action, state, preferLocal: false);
        }
        else
        {
            partition.Schedule(action, state);
        }
    }
}
