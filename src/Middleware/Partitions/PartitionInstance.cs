using System.Runtime.CompilerServices;
using System.Threading.RateLimiting;
using PartitionedHosting.DependencyInjection;
using PartitionedHosting.Execution;

namespace PartitionedHosting.Partitions;

/// <summary>
/// One generation of a partition: its container, its thread when <see cref="ExecutionMode.SingleThreaded"/>, and the
/// counters that admission and draining read. A recycle replaces the <see cref="Partition"/>'s instance with a new
/// one while this one finishes its requests. The counters are updated with interlocked operations only: this object
/// sits on the path of every request.
/// </summary>
internal sealed partial class PartitionInstance : IPartitionContext, IPartitionFeature
{
    private readonly int _maxQueueLength;
    private readonly ConcurrencyLimiter? _limiter;
    private readonly long _recycleAfterRequests;
    private int _recycling;

    // The requests admitted (high 40 bits) and those not finished yet (low 24 bits): one interlocked operation admits
    // a request, one finishes it. The admitted count wraps after 2^40 requests of one instance (a month at 400,000
    // requests per second); the active count allows 16 million requests at once.
    private long _counts;
    private int _queueLength;
    private int _draining;
    private int _disposed;
    private TaskCompletionSource? _idle;
    private readonly Lock _connectionsLock = new();
    private InFlightConnection? _connections;

    public PartitionInstance(Partition owner, int generation, PartitionedHostingOptions options, Random random)
    {
        Owner = owner;
        Generation = generation;
        Id = owner.Id;
        Mode = owner.Mode;
        StartedAt = Runtime.TimeProvider.GetTimestamp();
        LogScope = new Diagnostics.PartitionLogScope(Id, generation);
        _maxQueueLength = options.GetMaxQueueLength(Id);
        _recycleAfterRequests = options.Recycling.AfterRequests is { } requests ? Jitter(requests, options.Recycling.Jitter, random) : 0;
        RecycleAfter = options.Recycling.After is { } lifetime ? TimeSpan.FromTicks(Jitter(lifetime.Ticks, options.Recycling.Jitter, random)) : null;
        MaxQueueWait = options.Admission.MaxQueueWait;
        if (options.GetMaxConcurrentRequests(Id) is { } limit)
        {
            _limiter = new ConcurrencyLimiter(new ConcurrencyLimiterOptions
            {
                PermitLimit = limit,
                QueueLimit = _maxQueueLength,
                QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
            });
        }

        if (Mode == ExecutionMode.SingleThreaded)
        {
            Thread = new PartitionThread($"Partition {Id}.{generation}", ex => Runtime.OnUnhandledException(this, ex), Runtime.TimeProvider)
            {
                ResumeOnThreadPool = options.GetIdleResume(Id) == IdleResume.ThreadPool,
            };
        }
    }

    public Partition Owner { get; }

    public PartitionRuntime Runtime => Owner.Runtime;

    public int Id { get; }

    public int PartitionCount => Owner.PartitionCount;

    public ExecutionMode Mode { get; }

    /// <summary>1 for the partition's first instance, one more for each recycle.</summary>
    public int Generation { get; }

    public PartitionState State => Owner.Current == this ? Owner.State : PartitionState.Recycling;

    /// <summary>When the instance started, as a timestamp of the runtime's <see cref="TimeProvider"/>.</summary>
    public long StartedAt { get; }

    /// <summary>The lifetime after which the instance is recycled (with jitter); <see langword="null"/> for none.</summary>
    public TimeSpan? RecycleAfter { get; }

    /// <summary>The logging scope of requests running here.</summary>
    public Diagnostics.PartitionLogScope LogScope { get; }

    /// <summary>The path of the request that most recently started here: a hint for logs about a stall.</summary>
    public string? LastRequest { get; set; }

    /// <summary>Claims the instance's background recycle; false when one is already under way.</summary>
    public bool TryBeginRecycle() => Interlocked.Exchange(ref _recycling, 1) == 0;

    /// <summary>Whether a recycle of the instance was asked for (by a limit, a fault, a stall) and has not given up.</summary>
    public bool IsRecycleRequested => Volatile.Read(ref _recycling) == 1;

    /// <summary>A recycle that did not replace the instance: a later one may try again.</summary>
    public void EndRecycleAttempt() => Volatile.Write(ref _recycling, 0);

    /// <summary>Whether one of its started hooks failed.</summary>
    public bool StartFailed { get; set; }

    /// <summary>The number of requests the instance has admitted.</summary>
    public long RequestCount => (long)((ulong)Interlocked.Read(ref _counts) >> ActiveBits);

    /// <summary>The partition's thread; <see langword="null"/> for a free-threaded partition.</summary>
    public PartitionThread? Thread { get; }

    public PartitionContainer Container { get; set; } = null!;

    /// <summary>The longest a request may wait for this partition; <see langword="null"/> for no limit.</summary>
    public TimeSpan? MaxQueueWait { get; }

    public IServiceProvider Services => Container.Services;

    public int ActiveConnections => Owner.ActiveConnections;

    public int ActiveRequests => (int)(Interlocked.Read(ref _counts) & ActiveMask);

    public int QueueLength => Volatile.Read(ref _queueLength);

    IPartitionContext IPartitionFeature.Partition => this;

    /// <summary>Claims the instance's disposal: true once, for whoever disposes it.</summary>
    public bool TryBeginDispose() => Interlocked.Exchange(ref _disposed, 1) == 0;

    /// <summary>
    /// Runs a callback in the partition: on the partition's thread for a single-threaded partition (inline when
    /// already there), on the thread pool for a free-threaded one (inline unless the caller is on another
    /// partition's thread, which it must not hold). The caller's execution context flows.
    /// </summary>
    public Task InvokeAsync(Func<object, Task> callback, object state) =>
        InvokeAsync(static s => Unwrap((CallbackState)s), new CallbackState(callback, state), dequeues: false);

    /// <summary>
    /// Runs <paramref name="work"/> in the partition, as <see cref="InvokeAsync(Func{object, Task}, object)"/> does,
    /// and returns its result. <paramref name="dequeues"/> says that the work is an admitted request holding a place
    /// in the queue, which it gives up when it starts. <paramref name="ended"/>, when given, is called once with
    /// <paramref name="state"/> when the work has completed, or was cancelled before it started, and before the
    /// returned task completes: where a caller ends what the work held (its admission, its key slot).
    /// </summary>
    public Task<T> InvokeAsync<T>(Func<object, Task<T>> work, object state, bool dequeues, CancellationToken cancellationToken = default, Action<object>? ended = null)
    {
        Task<T> task;
        if (Thread is null)
        {
            task = PartitionThread.Current is null && PartitionFlow.Current is null
                ? Invoke(work, state)
                : RunOnThreadPool(work, state, cancellationToken);
        }
        else if (Thread.IsCurrent)
        {
            if (dequeues)
            {
                OnRequestDequeued();
            }

            // Possibly reached with no synchronization context (the server's code continuing inline after a
            // request): restore it so that the work's awaits come back here.
            using var scope = new SynchronizationContextScope(Thread.Context);
            task = Invoke(work, state);
        }
        else
        {
            // The call runs its end itself, where its work completes: a continuation of the caller's that did, resumed
            // on this partition's thread off a context it did not capture, would be queued to the thread pool and cost
            // the caller a second wake-up.
            var call = new PartitionCall<T>(this, work, state, dequeues, ended, cancellationToken);
            Thread.Post(call);
            return call.Task;
        }

        if (ended is null)
        {
            return task;
        }

        if (task.IsCompleted)
        {
            ended(state);
            return task;
        }

        return EndWhenDoneAsync(task, ended, state);
    }

    private static async Task<T> EndWhenDoneAsync<T>(Task<T> work, Action<object> ended, object state)
    {
        try
        {
            return await work.ConfigureAwait(false);
        }
        finally
        {
            ended(state);
        }
    }

    /// <summary>
    /// Runs free-threaded work on the thread pool, for a caller on a single-threaded partition's thread or flow: not
    /// on that partition's thread, nor under its turn or in its flow.
    /// </summary>
    private static Task<T> RunOnThreadPool<T>(Func<object, Task<T>> work, object state, CancellationToken cancellationToken)
    {
        if (PartitionFlow.Current is null || PartitionFlow.CaptureWithoutFlow() is not { } context)
        {
            return Task.Run(() => work(state), cancellationToken);
        }

        // Started in the caller's execution context minus its flow, which the task then captures.
        var started = new StrongBox<Task<T>>();
        ExecutionContext.Run(context, _ => started.Value = Task.Run(() => work(state), cancellationToken), null);
        return started.Value!;
    }

    private static long Jitter(long value, double jitter, Random random) =>
        Math.Max(1, (long)(value * (1 + (jitter * ((random.NextDouble() * 2) - 1)))));

    private static Task<T> Invoke<T>(Func<object, Task<T>> work, object state)
    {
        try
        {
            // A work that returns no task fails its call, rather than the partition's thread (where the caller would wait forever).
            return work(state) ?? Task.FromException<T>(new InvalidOperationException("The work given to the partition returned no task (null)."));
        }
        catch (Exception ex)
        {
            return Task.FromException<T>(ex);
        }
    }

    private static async Task<bool> Unwrap(CallbackState state)
    {
        await state.Callback(state.State).ConfigureAwait(false);
        return true;
    }

    private sealed record CallbackState(Func<object, Task> Callback, object State);

    /// <summary>Work queued to the partition's thread, run in the caller's execution context.</summary>
    /// <remarks>
    /// The completion does not force its continuations to the thread pool. Work that completes at once is completed on
    /// the partition's thread, with the partition's synchronization context current, where the runtime inlines only
    /// continuations that captured that same context: a caller that awaits with its own partition's context gets a post
    /// straight back to it, and one without a context is queued to the thread pool. Work that completes later is
    /// completed where the runtime resumes the call after it (the thread pool, since the call awaits it without a
    /// context), and the caller's continuation runs there. Either way the call's end (<c>ended</c>) runs just before,
    /// on the same thread: no continuation of the caller's sits in between to cost another hop.
    /// </remarks>
    private sealed class PartitionCall<T>(PartitionInstance instance, Func<object, Task<T>> work, object state, bool dequeues, Action<object>? ended, CancellationToken cancellationToken)
        : IPartitionWorkItem
    {
        private static readonly ContextCallback s_run = static self => ((PartitionCall<T>)self!).Run();
        private readonly ExecutionContext? _executionContext = PartitionFlow.CaptureWithoutFlow();
        private readonly TaskCompletionSource<T> _completion = new();
        private Task<T>? _work;

        public Task<T> Task => _completion.Task;

        public void Execute()
        {
            if (dequeues)
            {
                instance.OnRequestDequeued();
            }

            if (cancellationToken.IsCancellationRequested)
            {
                ended?.Invoke(state);
                _completion.TrySetCanceled(cancellationToken);
            }
            else if (_executionContext is null)
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
            // The work is this partition's request code: the escape detector watches it for this partition.
            if (instance.Runtime.Escapes is { } escapes)
            {
                PartitionFlow.Current = new PartitionFlow(instance.Thread!, instance.Id, path: null, guarded: false, escapes);
            }

            var task = Invoke(work, state);
            if (task.IsCompleted)
            {
                ended?.Invoke(state);
                _completion.TrySetFromTask(task);
                return;
            }

            _work = task;
            task.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(Complete);
        }

        private void Complete()
        {
            ended?.Invoke(state);
            _completion.TrySetFromTask(_work!);
        }
    }
}
