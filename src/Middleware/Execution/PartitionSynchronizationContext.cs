namespace PartitionedHosting.Execution;

/// <summary>
/// The <see cref="SynchronizationContext"/> of a partition thread: <see cref="Post"/> queues to the thread, so an
/// <c>await</c> that captures the context resumes on it.
/// </summary>
internal sealed class PartitionSynchronizationContext(PartitionThread thread) : SynchronizationContext
{
    public PartitionThread Thread => thread;

    public override void Post(SendOrPostCallback d, object? state) => thread.Post(d, state);

    public override void Send(SendOrPostCallback d, object? state)
    {
        // Whoever holds the partition's turn may run the partition's code: waiting for the thread would deadlock.
        if (thread.IsCurrent || thread.Turn.IsHeldByCurrentThread)
        {
            d(state);
            return;
        }

        using var done = new ManualResetEventSlim();
        Exception? error = null;
        // To the thread itself: a stand-in would be queued behind this blocked thread-pool thread.
        thread.PostToThread(_ =>
        {
            try
            {
                d(state);
            }
            catch (Exception ex)
            {
                error = ex;
            }
            finally
            {
                done.Set();
            }
        }, null);
        done.Wait();
        if (error is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(error);
        }
    }

    public override SynchronizationContext CreateCopy() => this;
}
