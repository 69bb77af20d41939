using System.Diagnostics.CodeAnalysis;
using Microsoft.AspNetCore.Http;

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
    private volatile bool _removed;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<Microsoft.AspNetCore.Connections.ConnectionContext, byte> _connections = new();
    private int _recycling;
    private int _recycles;
    private long _rejections;

    // The longest turn of the current window of the turn outliers, and of the previous one (ticks), and when the current
    // window started (a timestamp of the runtime's TimeProvider); the watchdog moves the window on.
    private long _longestTurn;
    private long _previousLongestTurn;
    private long _turnWindowStartedAt;

    public Partition(PartitionRuntime runtime, int id, ExecutionMode mode)
    {
        Runtime = runtime;
        Id = id;
        Mode = mode;
        PipeScheduler = new Execution.PartitionPipeScheduler(this);
        OwnedSlots = new KeyMap.SlotOwner(this);
    }

    public PartitionRuntime Runtime { get; }

    /// <summary>Serializes the recycles of this partition.</summary>
    public SemaphoreSlim RecycleGate { get; } = new(1, 1);

    public int Id { get; }

    /// <summary>The pipe scheduler of the partition's connections (Partitioned transport): one for all of them.</summary>
    internal Execution.PartitionPipeScheduler PipeScheduler { get; }

    /// <summary>The number of partitions now (a resize changes it).</summary>
    public int PartitionCount => Runtime.Partitions.Count;

    /// <summary>The state of a slot this partition owns, shared by all of them.</summary>
    internal KeyMap.SlotOwner OwnedSlots { get; }

    public ExecutionMode Mode { get; }

    /// <summary>The instance that takes new requests.</summary>
    public PartitionInstance Current
    {
        get => Volatile.Read(ref _current);
        set => Volatile.Write(ref _current, value);
    }

    /// <summary>
    /// Admits a request to the current instance, or, when a recycle replaces that instance between reading it and
    /// counting the request (or while it waits for a permit), to the one that replaced it. The result names the instance
    /// (<see cref="PartitionAdmission.Instance"/>) and whether the request runs at once on the calling thread
    /// (<see cref="PartitionAdmission.RunsInline"/>). Completes synchronously unless it must wait for a permit.
    /// </summary>
    public ValueTask<PartitionAdmission> AdmitAsync(HttpContext context)
    {
        while (true)
        {
            var instance = Current;
            var inline = instance.TryRunInline();
            var admission = instance.AdmitAsync(context, queued: !inline);
            if (!admission.IsCompletedSuccessfully)
            {
                return AdmitAfterWaitAsync(context, instance, admission, inline);
            }

            if (!admission.Result.IsRetired)
            {
                return new(admission.Result with { Instance = instance, RunsInline = inline });
            }
        }
    }

    /// <summary>
    /// Admits work that is not a request (a cross-partition call), with no permit: to the current instance, or to the one
    /// that replaced it meanwhile. False when the queue is full.
    /// </summary>
    public bool TryAdmit([NotNullWhen(true)] out PartitionInstance? instance)
    {
        while (true)
        {
            instance = Current;
            if (!instance.TryAdmitRequest())
            {
                return false;
            }

            if (!instance.TryAbandonIfRetiring())
            {
                return true;
            }
        }
    }

    private async ValueTask<PartitionAdmission> AdmitAfterWaitAsync(HttpContext context, PartitionInstance instance, ValueTask<PartitionAdmission> waiting, bool inline)
    {
        var admission = await waiting.ConfigureAwait(false);
        if (admission.IsRetired)
        {
            // Replaced while the request waited for a permit: over again, on the new instance.
            return await AdmitAsync(context).ConfigureAwait(false);
        }

        if (inline && admission.IsAdmitted)
        {
            // Admitted to run at once, but the permit came later, on another thread: it queues after all.
            instance.OnRequestQueued();
        }

        return admission with { Instance = instance, RunsInline = false };
    }

    public int Generation => Current.Generation;

    public Execution.PartitionThread? Thread => Current.Thread;

    public DependencyInjection.PartitionContainer Container => Current.Container;

    public IServiceProvider Services => Current.Services;

    public int ActiveConnections => Volatile.Read(ref _activeConnections);

    public int ActiveRequests => Current.ActiveRequests;

    public int QueueLength => Current.QueueLength;

    /// <summary>Whether new connections and unkeyed requests may be sent here.</summary>
    public bool IsAvailable => IsServing && !_removed;

    /// <summary>
    /// Whether the partition runs what only it may run (its keys, its pinned endpoints, calls addressed to it): not
    /// stalled nor unhealthy. A partition that a resize removes still serves the keys it owns until they have moved.
    /// </summary>
    public bool IsServing => !_stalled && !_unhealthy;

    /// <summary>Removed by a resize: it takes no new connection nor request, and its connections are asked to close.</summary>
    public bool IsRemoved
    {
        get => _removed;
        set => _removed = value;
    }

    public PartitionState State =>
        !Runtime.IsRunning || _removed ? PartitionState.Stopped
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

    /// <summary>How long a window of the turn outliers lasts: the snapshot shows the longest turn of the last one or two.</summary>
    public static TimeSpan TurnWindow { get; } = TimeSpan.FromSeconds(10);

    /// <summary>Requests answered 503 since the partition started.</summary>
    public long Rejections => Interlocked.Read(ref _rejections);

    public void CountRejection() => Interlocked.Increment(ref _rejections);

    /// <summary>
    /// Records a turn of the partition's thread (or of a thread holding its turn) for the outliers: a read and, for a new
    /// longest, a write, with no interlocked operation. A turn recorded while the window moves on may count in either.
    /// </summary>
    public void RecordTurn(TimeSpan duration)
    {
        if (duration.Ticks > Volatile.Read(ref _longestTurn))
        {
            Volatile.Write(ref _longestTurn, duration.Ticks);
        }
    }

    /// <summary>Moves the window of the turn outliers on once it has lasted <see cref="TurnWindow"/> (the watchdog calls it).</summary>
    public void MoveTurnWindow(TimeProvider time)
    {
        var now = time.GetTimestamp();
        if (_turnWindowStartedAt == 0)
        {
            _turnWindowStartedAt = now;
        }
        else if (time.GetElapsedTime(_turnWindowStartedAt, now) >= TurnWindow)
        {
            Volatile.Write(ref _previousLongestTurn, Interlocked.Exchange(ref _longestTurn, 0));
            _turnWindowStartedAt = now;
        }
    }

    /// <summary>The longest turn of the last one or two windows; <see langword="null"/> for a free-threaded partition.</summary>
    public TimeSpan? LongestRecentTurn => Mode == ExecutionMode.SingleThreaded
        ? TimeSpan.FromTicks(Math.Max(Volatile.Read(ref _longestTurn), Volatile.Read(ref _previousLongestTurn)))
        : null;

    public DateTimeOffset? LastRecycledAt { get; private set; }

    public RecycleCause? LastRecycleCause { get; private set; }

    IPartitionContext IPartitionFeature.Partition => Current;

    /// <summary>Counts a connection assigned to the partition in, until it closes; a partition removed by a resize asks it to close.</summary>
    public void OnConnectionOpened(Microsoft.AspNetCore.Connections.ConnectionContext connection)
    {
        Interlocked.Increment(ref _activeConnections);
        _connections[connection] = 0;
        connection.ConnectionClosed.UnsafeRegister(
            static s =>
            {
                var (partition, connection) = ((Partition, Microsoft.AspNetCore.Connections.ConnectionContext))s!;
                partition._connections.TryRemove(connection, out _);
                Interlocked.Decrement(ref partition._activeConnections);
            },
            (this, connection));
        if (_removed)
        {
            RequestClose(connection);
        }
    }

    /// <summary>
    /// Asks every connection of the partition to close once its current requests are done (Kestrel's graceful close:
    /// <c>Connection: close</c> on HTTP/1.1, GOAWAY on HTTP/2); returns how many were asked.
    /// </summary>
    public int CloseConnections()
    {
        var count = 0;
        foreach (var connection in _connections.Keys)
        {
            RequestClose(connection);
            count++;
        }

        return count;
    }

    /// <summary>Aborts the connections still open (they did not close in time).</summary>
    public void AbortConnections()
    {
        foreach (var connection in _connections.Keys)
        {
            connection.Abort(new Microsoft.AspNetCore.Connections.ConnectionAbortedException("The partition serving the connection was removed."));
        }
    }

    private static void RequestClose(Microsoft.AspNetCore.Connections.ConnectionContext connection) =>
        connection.Features.Get<Microsoft.AspNetCore.Connections.Features.IConnectionLifetimeNotificationFeature>()?.RequestClose();

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
            _stalled ? StalledFor?.TotalMilliseconds : null,
            Rejections,
            LongestRecentTurn?.TotalMilliseconds);
    }
}
