using PartitionedHosting.DependencyInjection;
using PartitionedHosting.Execution;

namespace PartitionedHosting.Partitions;

/// <summary>
/// One application partition: its container, its thread when <see cref="ExecutionMode.SingleThreaded"/>, and the
/// counters that admission, distribution and shutdown read. The counters are updated with interlocked operations
/// only: this object sits on the path of every request.
/// </summary>
internal sealed class Partition : IPartitionContext, IPartitionFeature
{
    private readonly int _maxQueueLength;
    private int _activeConnections;
    private int _activeRequests;
    private int _queueLength;
    private int _draining;
    private TaskCompletionSource? _idle;

    public Partition(PartitionRuntime runtime, int id, int partitionCount, ExecutionMode mode, int maxQueueLength, Action<Partition, Exception> onUnhandledException)
    {
        Runtime = runtime;
        Id = id;
        PartitionCount = partitionCount;
        Mode = mode;
        _maxQueueLength = maxQueueLength;
        if (mode == ExecutionMode.SingleThreaded)
        {
            Thread = new PartitionThread($"Partition {id}", ex => onUnhandledException(this, ex));
        }
    }

    public PartitionRuntime Runtime { get; }

    public int Id { get; }

    public int PartitionCount { get; }

    public ExecutionMode Mode { get; }

    /// <summary>The partition's thread; <see langword="null"/> for a free-threaded partition.</summary>
    public PartitionThread? Thread { get; }

    public PartitionContainer Container { get; set; } = null!;

    public IServiceProvider Services => Container.Services;

    public int ActiveConnections => Volatile.Read(ref _activeConnections);

    public int ActiveRequests => Volatile.Read(ref _activeRequests);

    public int QueueLength => Volatile.Read(ref _queueLength);

    IPartitionContext IPartitionFeature.Partition => this;

    public void OnConnectionOpened() => Interlocked.Increment(ref _activeConnections);

    public void OnConnectionClosed() => Interlocked.Decrement(ref _activeConnections);

    /// <summary>
    /// Admits a request, or refuses it when the partition's queue is full. An admitted request must end with
    /// <see cref="OnRequestCompleted"/>; on a single-threaded partition it also holds a place in the queue until
    /// <see cref="OnRequestDequeued"/>.
    /// </summary>
    public bool TryAdmitRequest()
    {
        if (Thread is not null)
        {
            if (Interlocked.Increment(ref _queueLength) > _maxQueueLength)
            {
                Interlocked.Decrement(ref _queueLength);
                return false;
            }
        }

        Interlocked.Increment(ref _activeRequests);
        return true;
    }

    public void OnRequestDequeued() => Interlocked.Decrement(ref _queueLength);

    public void OnRequestCompleted()
    {
        if (Interlocked.Decrement(ref _activeRequests) == 0 && Volatile.Read(ref _draining) == 1)
        {
            Volatile.Read(ref _idle)?.TrySetResult();
        }
    }

    /// <summary>Completes when no admitted request is left.</summary>
    public Task WhenIdleAsync()
    {
        Interlocked.CompareExchange(ref _idle, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), null);
        Interlocked.Exchange(ref _draining, 1);
        if (ActiveRequests == 0)
        {
            _idle!.TrySetResult();
        }

        return _idle!.Task;
    }

    /// <summary>
    /// Runs a callback in the partition: inline on the thread pool for a free-threaded partition or when already on
    /// the partition's thread, otherwise queued to the thread. The caller's execution context flows.
    /// </summary>
    public Task InvokeAsync(Func<object, Task> callback, object state)
    {
        if (Thread is null)
        {
            return callback(state);
        }

        if (Thread.IsCurrent)
        {
            // Possibly reached with no synchronization context (the server's code continuing inline after a
            // request): restore it so that the callback's awaits come back here.
            var previous = SynchronizationContext.Current;
            SynchronizationContext.SetSynchronizationContext(Thread.Context);
            try
            {
                return callback(state);
            }
            finally
            {
                SynchronizationContext.SetSynchronizationContext(previous);
            }
        }

        var workItem = new CallbackWorkItem(callback, state);
        Thread.Post(workItem);
        return workItem.Task;
    }

    private sealed class CallbackWorkItem(Func<object, Task> callback, object state) : IPartitionWorkItem
    {
        private static readonly ContextCallback s_run = static self => ((CallbackWorkItem)self!).Run();
        private readonly ExecutionContext? _executionContext = ExecutionContext.Capture();
        private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Task => _completion.Task;

        public void Execute()
        {
            if (_executionContext is null)
            {
                Run();
            }
            else
            {
                ExecutionContext.Run(_executionContext, s_run, this);
            }
        }

        private void Run()
        {
            Task task;
            try
            {
                task = callback(state);
            }
            catch (Exception ex)
            {
                task = Task.FromException(ex);
            }

            task.ContinueWith(static (t, c) => ((TaskCompletionSource)c!).TryCompleteFrom(t), _completion, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }
}
