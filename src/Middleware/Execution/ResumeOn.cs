using System.Runtime.CompilerServices;

namespace PartitionedHosting.Execution;

/// <summary>
/// Awaiting it returns to a synchronization context (a partition's), or, for <see langword="null"/>, off every
/// partition's thread: where request code was before the framework's own code moved it elsewhere.
/// </summary>
internal readonly struct ResumeOn(SynchronizationContext? context) : ICriticalNotifyCompletion
{
    public bool IsCompleted => context is null ? PartitionThread.Current is null : SynchronizationContext.Current == context;

    public ResumeOn GetAwaiter() => this;

    public void GetResult()
    {
    }

    public void OnCompleted(Action continuation) => UnsafeOnCompleted(continuation);

    public void UnsafeOnCompleted(Action continuation)
    {
        if (context is null)
        {
            ThreadPool.UnsafeQueueUserWorkItem(static c => ((Action)c!)(), continuation, preferLocal: false);
        }
        else
        {
            context.Post(static c => ((Action)c!)(), continuation);
        }
    }
}
