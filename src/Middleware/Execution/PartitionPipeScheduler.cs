using System.IO.Pipelines;
using PartitionedHosting.Partitions;

namespace PartitionedHosting.Execution;

/// <summary>
/// Resumes a pipe's reader or writer in a partition: on the thread of its current instance when single-threaded,
/// on the thread pool otherwise. A transport whose pipes use it keeps a connection's parsing and its requests on the
/// partition's thread, without a hop per request.
/// </summary>
internal sealed class PartitionPipeScheduler(Partition partition) : PipeScheduler
{
    public override void Schedule(Action<object?> action, object? state)
    {
        if (partition.Current.Thread is { } thread)
        {
            thread.PostAction(action, state);
        }
        else
        {
            System.Threading.ThreadPool.UnsafeQueueUserWorkItem(action, state, preferLocal: false);
        }
    }
}
