using System.Runtime.CompilerServices;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.ObjectPool;
using PartitionedHosting.DependencyInjection;
using PartitionedHosting.Execution;

namespace PartitionedHosting.Partitions;

/// <summary>
/// One generation of a partition: its container, its thread when <see cref="ExecutionMode.SingleThreaded"/>, and the
/// counters that admission and draining read. A recycle replaces the <see cref="Partition"/>'s instance with a new
/// one while this one finishes its requests. The counters are updated with interlocked operations only: this object
/// sits on the path of every request.
/// </summary>
internal sealed class PartitionInstance : IPartitionContext, IPartitionFeature
{
    private readonly int _maxQueueLength;
    private readonly ConcurrencyLimiter? _limiter;
    private readonly long _recycleAfterRequests;
    private long _requests;
    private int _recycling;
    private int _activeRequests;
    private int _queueLength;
    private int _draining;
    private int _disposed;
    private TaskCompletionSource? _idle;
    private readonly Lock _inFlightLock = new();
    private InFlightWork? _inFlight;

    public PartitionInstance(Partition owner, int generation, PartitionedHostingOptions options, Random random)
    {
        Owner = owner;
        Generation = generation;
        Id = owner.Id;
        Mode = owner.Mode;
        StartedAt = Runtime.TimeProvider.GetTimestamp();
        LogScope = new Diagnostics.PartitionLogScope(Id, generation);
        _maxQueueLength = options.GetMaxQueueLength(Id);
        _recycleAfterRequests = options.RecycleAfterRequests is { } requests ? Jitter(requests, options.RecycleJitter, random) : 0;
        RecycleAfter = options.RecycleAfter is { } lifetime ? TimeSpan.FromTicks(Jitter(lifetime.Ticks, options.RecycleJitter, random)) : null;
        MaxQueueWait = options.MaxQueueWait;
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
    public long RequestCount => Interlocked.Read(ref _requests);

    /// <summary>The partition's thread; <see langword="null"/> for a free-threaded partition.</summary>
    public PartitionThread? Thread { get; }

    public PartitionContainer Container { get; set; } = null!;

    /// <summary>The longest a request may wait for this partition; <see langword="null"/> for no limit.</summary>
    public TimeSpan? MaxQueueWait { get; }

    public IServiceProvider Services => Container.Services;

    public int ActiveConnections => Owner.ActiveConnections;

    public int ActiveRequests => Volatile.Read(ref _activeRequests);

    public int QueueLength => Volatile.Read(ref _queueLength);

    IPartitionContext IPartitionFeature.Partition => this;

    /// <summary>
    /// Admits a request, or refuses it when the partition's queue is full. An admitted request must end with
    /// <see cref="OnRequestCompleted()"/>; on a single-threaded partition it also holds a place in the queue until
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
        Runtime.Metrics.RequestAdmitted(Id);
        if (Interlocked.Increment(ref _requests) == _recycleAfterRequests)
        {
            Runtime.RequestRecycle(Owner, this, RecycleCause.Requests);
        }

        return true;
    }

    /// <summary>
    /// Admits a request: a place in the queue (see <see cref="TryAdmitRequest"/>), then, when the partition bounds
    /// its concurrent requests, a permit, waited for within <see cref="MaxQueueWait"/>. Completes synchronously
    /// unless it must wait for a permit.
    /// </summary>
    public ValueTask<PartitionAdmission> AdmitAsync(HttpContext context)
    {
        if (!TryAdmitRequest())
        {
            return new(PartitionAdmission.Rejected);
        }

        // Counted (above) before this check, while WhenIdleAsync sets the flag before it reads the count: either the
        // drain waits for this request, or this request sees the drain and goes to the instance that replaced this one.
        if (IsRetiring)
        {
            AbandonAdmission();
            return new(PartitionAdmission.Retired);
        }

        if (_limiter is null)
        {
            return new(PartitionAdmission.Admitted);
        }

        var lease = _limiter.AttemptAcquire();
        if (lease.IsAcquired)
        {
            return new(new PartitionAdmission(true, lease));
        }

        lease.Dispose();

        // RequestAborted is read only here: creating it costs the server a token source per request.
        return WaitForPermitAsync(context.RequestAborted);
    }

    /// <summary>
    /// For work admitted by <see cref="TryAdmitRequest"/>: when the instance is being replaced, gives the admission back
    /// and returns true (admit it on the partition's current instance instead).
    /// </summary>
    public bool TryAbandonIfRetiring()
    {
        if (!IsRetiring)
        {
            return false;
        }

        AbandonAdmission();
        return true;
    }

    /// <summary>Ends an admitted request: releases its permit and its place in the counts.</summary>
    public void OnRequestCompleted(RateLimitLease? lease)
    {
        lease?.Dispose();
        OnRequestCompleted();
    }

    public void OnRequestDequeued() => Interlocked.Decrement(ref _queueLength);

    /// <summary>
    /// Follows an admitted request that now runs here until its response has completed (its <c>OnCompleted</c>
    /// callbacks have run and its services are disposed), which then releases its admission: a recycle disposes the
    /// instance only after that. <paramref name="serverResponse"/> is the server's own response feature, whose first
    /// <c>OnCompleted</c> callback runs last.
    /// </summary>
    /// <returns>
    /// The request's state in the instance, pooled: its services and response feature, valid until its response has
    /// completed.
    /// </returns>
    public InFlightRequest Track(HttpContext context, IHttpResponseFeature serverResponse, RateLimitLease? lease)
    {
        var request = Runtime.InFlightRequests.Get();
        request.Initialize(this, context, lease);
        Link(request);
        serverResponse.OnCompleted(InFlightRequest.OnResponseCompleted, request);
        return request;
    }

    /// <summary>
    /// Follows a connection's application that runs here beyond the request that started it (a SignalR connection
    /// under long polling): it counts as work in flight, which a drain waits for and a drain timeout aborts, until
    /// the returned registration is disposed.
    /// </summary>
    public IDisposable TrackConnection(ConnectionContext connection)
    {
        Interlocked.Increment(ref _activeRequests);
        var work = new InFlightConnection(this, connection);
        Link(work);
        return work;
    }

    /// <summary>Aborts every request and connection still running here (a drain that timed out); returns how many there were.</summary>
    /// <remarks>
    /// Under the lock: a request's state is pooled and its context reused by the server once it ends, so it must not
    /// end between being listed and being aborted. The servers' aborts queue their callbacks rather than run them.
    /// </remarks>
    public int AbortInFlight()
    {
        var aborted = 0;
        lock (_inFlightLock)
        {
            for (var work = _inFlight; work is not null; work = work.Next)
            {
                work.Abort();
                aborted++;
            }
        }

        return aborted;
    }

    /// <summary>Ends work followed by <see cref="Track"/> or <see cref="TrackConnection"/>.</summary>
    internal void OnWorkEnded(InFlightWork work, RateLimitLease? lease)
    {
        lock (_inFlightLock)
        {
            if (work.Previous is { } previous)
            {
                previous.Next = work.Next;
            }
            else
            {
                _inFlight = work.Next;
            }

            if (work.Next is { } next)
            {
                next.Previous = work.Previous;
            }
        }

        OnRequestCompleted(lease);
        if (work is InFlightRequest request)
        {
            Runtime.InFlightRequests.Return(request);
        }
    }

    private void Link(InFlightWork work)
    {
        lock (_inFlightLock)
        {
            work.Next = _inFlight;
            if (_inFlight is not null)
            {
                _inFlight.Previous = work;
            }

            _inFlight = work;
        }
    }

    /// <summary>Claims the instance's disposal: true once, for whoever disposes it.</summary>
    public bool TryBeginDispose() => Interlocked.Exchange(ref _disposed, 1) == 0;

    private async ValueTask<PartitionAdmission> WaitForPermitAsync(CancellationToken cancellationToken)
    {
        using var timeout = MaxQueueWait is { } wait ? new CancellationTokenSource(wait, Runtime.TimeProvider) : new CancellationTokenSource();
        using var aborted = cancellationToken.UnsafeRegister(static t => ((CancellationTokenSource)t!).Cancel(), timeout);

        RateLimitLease? lease = null;
        try
        {
            lease = await _limiter!.AcquireAsync(1, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        if (lease is { IsAcquired: true })
        {
            return new PartitionAdmission(true, lease);
        }

        lease?.Dispose();
        AbandonAdmission();
        return IsRetiring ? PartitionAdmission.Retired : PartitionAdmission.TimedOut;
    }

    /// <summary>
    /// Draining because a recycle replaced it (the swap happens before the drain starts). A drain at shutdown keeps
    /// the instance current: requests that still arrive then are served.
    /// </summary>
    private bool IsRetiring => Volatile.Read(ref _draining) == 1 && Owner.Current != this;

    /// <summary>Gives back what <see cref="TryAdmitRequest"/> took, for a request that will not run here.</summary>
    private void AbandonAdmission()
    {
        if (Thread is not null)
        {
            OnRequestDequeued();
        }

        OnRequestCompleted();
    }

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
    /// Runs a callback in the partition: on the partition's thread for a single-threaded partition (inline when
    /// already there), on the thread pool for a free-threaded one (inline unless the caller is on another
    /// partition's thread, which it must not hold). The caller's execution context flows.
    /// </summary>
    public Task InvokeAsync(Func<object, Task> callback, object state) =>
        InvokeAsync(static s => Unwrap((CallbackState)s), new CallbackState(callback, state), dequeues: false);

    /// <summary>
    /// Runs <paramref name="work"/> in the partition, as <see cref="InvokeAsync(Func{object, Task}, object)"/> does,
    /// and returns its result. <paramref name="dequeues"/> says that the work is an admitted request holding a place
    /// in the queue, which it gives up when it starts.
    /// </summary>
    public Task<T> InvokeAsync<T>(Func<object, Task<T>> work, object state, bool dequeues, CancellationToken cancellationToken = default)
    {
        if (Thread is null)
        {
            return PartitionThread.Current is null && PartitionFlow.Current is null
                ? Invoke(work, state)
                : RunOnThreadPool(work, state, cancellationToken);
        }

        if (Thread.IsCurrent)
        {
            if (dequeues)
            {
                OnRequestDequeued();
            }

            // Possibly reached with no synchronization context (the server's code continuing inline after a
            // request): restore it so that the work's awaits come back here.
            using var scope = new SynchronizationContextScope(Thread.Context);
            return Invoke(work, state);
        }

        var call = new PartitionCall<T>(this, work, state, dequeues, cancellationToken);
        Thread.Post(call);
        return call.Task;
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
            return work(state);
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
    /// The completion does not force its continuations to the thread pool: it is set on the partition's thread, with
    /// the partition's synchronization context current, where the runtime inlines only continuations that captured
    /// that same context; a caller that awaits with its own partition's context gets a post straight back to it, and
    /// one without a context is queued to the thread pool. That saves a thread pool hop per cross-partition call.
    /// </remarks>
    private sealed class PartitionCall<T>(PartitionInstance partition, Func<object, Task<T>> work, object state, bool dequeues, CancellationToken cancellationToken)
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
                partition.OnRequestDequeued();
            }

            if (cancellationToken.IsCancellationRequested)
            {
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
            if (partition.Runtime.Escapes is { } escapes)
            {
                PartitionFlow.Current = new PartitionFlow(partition.Thread!, partition.Id, path: null, guarded: false, escapes);
            }

            var task = Invoke(work, state);
            if (task.IsCompleted)
            {
                _completion.TrySetFromTask(task);
                return;
            }

            _work = task;
            task.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(Complete);
        }

        private void Complete() => _completion.TrySetFromTask(_work!);
    }
}

/// <summary>Work running in an instance that a drain waits for: a request, or a connection's application.</summary>
internal abstract class InFlightWork
{
    public InFlightWork? Previous { get; set; }

    public InFlightWork? Next { get; set; }

    /// <summary>Ends the work early: the drain timed out.</summary>
    public abstract void Abort();
}

/// <summary>
/// A request running in an instance, until its response has completed: the node of the instance's in-flight list and
/// the request's partition state (its services, its response feature), pooled together so that a request allocates
/// none of them.
/// </summary>
internal sealed class InFlightRequest : InFlightWork, IResettable
{
    public static readonly Func<object, Task> OnResponseCompleted = static state =>
    {
        // Last of the response's callbacks: the request's application scope goes now, then the request itself.
        var request = (InFlightRequest)state;
        var disposal = request.Services.DisposeApplicationScopeAsync();
        if (!disposal.IsCompletedSuccessfully)
        {
            return EndAfterAsync(request, disposal);
        }

        request.Instance.OnWorkEnded(request, request.Lease);
        return Task.CompletedTask;
    };

    private static async Task EndAfterAsync(InFlightRequest request, ValueTask disposal)
    {
        try
        {
            await disposal.ConfigureAwait(false);
        }
        finally
        {
            request.Instance.OnWorkEnded(request, request.Lease);
        }
    }

    private HttpContext? _context;

    public PartitionInstance Instance { get; private set; } = null!;

    public RateLimitLease? Lease { get; private set; }

    /// <summary>The request's services: the partition's own, then the application's.</summary>
    public PartitionServiceProvider Services { get; } = new();

    /// <summary>The request's response feature in a single-threaded partition.</summary>
    public Dispatch.PartitionResponseFeature Response { get; } = new();

    public void Initialize(PartitionInstance instance, HttpContext context, RateLimitLease? lease)
    {
        Instance = instance;
        _context = context;
        Lease = lease;
    }

    public override void Abort() => _context?.Abort();

    public bool TryReset()
    {
        Services.ResetForPool();
        Response.Reset();
        Instance = null!;
        _context = null;
        Lease = null;
        Previous = null;
        Next = null;
        return true;
    }
}

/// <summary>A connection's application running in an instance (a SignalR connection), until it is disposed.</summary>
internal sealed class InFlightConnection(PartitionInstance instance, ConnectionContext connection) : InFlightWork, IDisposable
{
    private int _ended;

    public override void Abort() => connection.Abort(new ConnectionAbortedException("The partition instance serving the connection is being replaced."));

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _ended, 1) == 0)
        {
            instance.OnWorkEnded(this, lease: null);
        }
    }
}

/// <summary>Whether a partition admitted a request, and the concurrency permit it holds if the partition has a bound.</summary>
internal readonly record struct PartitionAdmission(bool IsAdmitted, RateLimitLease? Lease, string? RejectionReason = null, bool IsRetired = false)
{
    public static PartitionAdmission Admitted => new(true, null);

    public static PartitionAdmission Rejected => new(false, null, Diagnostics.RejectionReasons.QueueFull);

    /// <summary>The wait for a permit ran past <c>MaxQueueWait</c>, or the client went away.</summary>
    public static PartitionAdmission TimedOut => new(false, null, Diagnostics.RejectionReasons.QueueWait);

    /// <summary>The instance is being replaced: admit the request on the partition's current instance instead.</summary>
    public static PartitionAdmission Retired => new(false, null, null, IsRetired: true);
}
