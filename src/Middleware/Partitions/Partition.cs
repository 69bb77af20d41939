namespace PartitionedHosting.Partitions;

/// <summary>
/// One application partition, as connections and the runtime know it: a stable identity whose current
/// <see cref="PartitionInstance"/> a recycle replaces. Connections keep the partition; each request runs on the
/// instance that is current when it is admitted.
/// </summary>
internal sealed class Partition : IPartitionContext, IPartitionFeature
{
    private readonly Queue<long> _failures = new();
    private int _crashLoops;
    private long _lastCrashLoopAt;
    private TimeSpan _lastRetryDelay;
    private ITimer? _crashLoopRetry;
    private PartitionInstance _current = null!;
    private int _activeConnections;
    private volatile bool _stalled;
    private volatile bool _unhealthy;
    private int _recycling;
    private int _recycles;

    public Partition(PartitionRuntime runtime, int id, int partitionCount, ExecutionMode mode)
    {
        Runtime = runtime;
        Id = id;
        PartitionCount = partitionCount;
        Mode = mode;
        PipeScheduler = new Execution.PartitionPipeScheduler(this);
    }

    public PartitionRuntime Runtime { get; }

    /// <summary>Serializes the recycles of this partition.</summary>
    public SemaphoreSlim RecycleGate { get; } = new(1, 1);

    public int Id { get; }

    /// <summary>The pipe scheduler of the partition's connections (Partitioned transport): one for all of them.</summary>
    internal Execution.PartitionPipeScheduler PipeScheduler { get; }

    public int PartitionCount { get; }

    public ExecutionMode Mode { get; }

    /// <summary>The instance that takes new requests.</summary>
    public PartitionInstance Current
    {
        get => Volatile.Read(ref _current);
        set => Volatile.Write(ref _current, value);
    }

    public int Generation => Current.Generation;

    public Execution.PartitionThread? Thread => Current.Thread;

    public DependencyInjection.PartitionContainer Container => Current.Container;

    public IServiceProvider Services => Current.Services;

    public int ActiveConnections => Volatile.Read(ref _activeConnections);

    public int ActiveRequests => Current.ActiveRequests;

    public int QueueLength => Current.QueueLength;

    /// <summary>Whether new connections and unkeyed requests may be sent here.</summary>
    public bool IsAvailable => !_stalled && !_unhealthy;

    public PartitionState State =>
        !Runtime.IsRunning ? PartitionState.Stopped
        : _unhealthy ? PartitionState.Unhealthy
        : _stalled ? PartitionState.Stalled
        : Volatile.Read(ref _recycling) > 0 ? PartitionState.Recycling
        : PartitionState.Running;

    public bool IsStalled
    {
        get => _stalled;
        set => _stalled = value;
    }

    public bool IsUnhealthy
    {
        get => _unhealthy;
        set => _unhealthy = value;
    }

    /// <summary>How long the current stall has lasted, when stalled.</summary>
    public TimeSpan? StalledFor { get; set; }

    public int Recycles => Volatile.Read(ref _recycles);

    public DateTimeOffset? LastRecycledAt { get; private set; }

    public RecycleCause? LastRecycleCause { get; private set; }

    IPartitionContext IPartitionFeature.Partition => Current;

    public void OnConnectionOpened() => Interlocked.Increment(ref _activeConnections);

    public void OnConnectionClosed() => Interlocked.Decrement(ref _activeConnections);

    public void OnRecycleStarted() => Interlocked.Increment(ref _recycling);

    /// <summary>Records a recycle that replaces the instance: called before the new instance becomes current, so that whoever sees it sees why.</summary>
    public void OnRecycled(RecycleCause cause, DateTimeOffset at)
    {
        LastRecycleCause = cause;
        LastRecycledAt = at;
        Interlocked.Increment(ref _recycles);
    }

    /// <summary>Ends a recycle, whether it replaced the instance or not.</summary>
    public void OnRecycleEnded() => Interlocked.Decrement(ref _recycling);

    /// <summary>Records a fault; returns whether the partition has now failed too often within the window.</summary>
    public bool RecordFailure(long now, TimeSpan window, int maxFailures, TimeProvider time)
    {
        lock (_failures)
        {
            _failures.Enqueue(now);
            while (_failures.Count > 0 && time.GetElapsedTime(_failures.Peek(), now) > window)
            {
                _failures.Dequeue();
            }

            return _failures.Count >= maxFailures;
        }
    }

    public void ResetFailures()
    {
        lock (_failures)
        {
            _failures.Clear();
        }
    }

    /// <summary>
    /// How long to wait before the next attempt after a crash loop: <paramref name="window"/>, doubled for each crash
    /// loop that follows the previous one's retry within a window, up to 16 windows.
    /// </summary>
    public TimeSpan NextCrashLoopRetry(long now, TimeSpan window, TimeProvider time)
    {
        lock (_failures)
        {
            var settled = _lastCrashLoopAt != 0 && time.GetElapsedTime(_lastCrashLoopAt, now) > _lastRetryDelay + window + window;
            _crashLoops = settled ? 1 : Math.Min(_crashLoops + 1, 5);
            _lastCrashLoopAt = now;
            _lastRetryDelay = window * (1 << (_crashLoops - 1));
            return _lastRetryDelay;
        }
    }

    /// <summary>Holds the timer of the next attempt after a crash loop (disposing the previous one); null to cancel.</summary>
    public void ScheduleCrashLoopRetry(ITimer? timer) => Interlocked.Exchange(ref _crashLoopRetry, timer)?.Dispose();

    public PartitionSnapshot Snapshot()
    {
        var current = Current;
        return new PartitionSnapshot(
            Id,
            Mode,
            State,
            current.Generation,
            ActiveConnections,
            current.ActiveRequests,
            current.QueueLength,
            current.RequestCount,
            Recycles,
            LastRecycledAt,
            LastRecycleCause,
            _stalled ? StalledFor?.TotalMilliseconds : null);
    }
}
