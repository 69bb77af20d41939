using System.Collections.Concurrent;
using System.Runtime.CompilerServices;

namespace PartitionedHosting.Execution;

/// <summary>
/// The dedicated thread of a <see cref="ExecutionMode.SingleThreaded"/> partition: it drains one queue of work items,
/// one at a time, with <see cref="Context"/> as its <see cref="SynchronizationContext"/>, so that continuations of
/// awaits in the partition's code return to it.
/// </summary>
/// <remarks>
/// The queue is lock-free. An idle thread sleeps on a semaphore instead of spinning: on a machine with few cores a
/// spinning partition thread takes the core that the socket transport and the load need. A poster wakes it only when
/// it announced that it sleeps, so a busy thread costs posters one read.
/// </remarks>
internal sealed class PartitionThread : IDisposable
{
    [ThreadStatic]
    private static PartitionThread? t_current;

    private readonly ConcurrentQueue<WorkItem> _queue = new();
    private readonly SemaphoreSlim _wake = new(0);
    private readonly Thread _thread;
    private readonly Action<Exception> _onUnhandledException;
    private int _sleeping;
    private volatile bool _stopping;
    private volatile bool _exited;
    private long _turnStartedAt;

    public PartitionThread(string name, Action<Exception> onUnhandledException)
    {
        _onUnhandledException = onUnhandledException;
        Context = new PartitionSynchronizationContext(this);
        _thread = new Thread(Run) { Name = name, IsBackground = true };
    }

    public PartitionSynchronizationContext Context { get; }

    /// <summary>The partition's turn: held by this thread while it runs work, or by a thread that runs the partition's code off it.</summary>
    public PartitionTurn Turn { get; } = new();

    public int ManagedThreadId => _thread.ManagedThreadId;

    /// <summary>
    /// When the current turn (one work item: a synchronous segment of request code, on this thread or, holding
    /// <see cref="Turn"/>, on another) started, as a <see cref="TimeProvider.GetTimestamp"/> value of
    /// <see cref="TimeProvider.System"/>; 0 while the partition is idle. Read by the watchdog from another thread.
    /// </summary>
    public long TurnStartedAt => Volatile.Read(ref _turnStartedAt) is var started and not 0 ? started : Turn.OtherTurnStartedAt;

    /// <summary>Receives the duration of every turn, when set (metrics).</summary>
    public Action<TimeSpan>? OnTurnCompleted { get; set; }

    /// <summary>The partition thread the calling code runs on, if any.</summary>
    public static PartitionThread? Current => t_current;

    /// <summary>Whether the calling code runs on this partition's thread.</summary>
    public bool IsCurrent => ReferenceEquals(t_current, this);

    // UnsafeStart: the thread must not inherit the execution context of whoever created it (a request that triggered
    // a recycle): the thread restores that context after every work item.
    public void Start() => _thread.UnsafeStart();

    public void Post(SendOrPostCallback callback, object? state) => Enqueue(new WorkItem(callback, state, WorkKind.SendOrPost));

    public void Post(IPartitionWorkItem item) => Enqueue(new WorkItem(item, null, WorkKind.WorkItem));

    /// <summary>Queues a pipe continuation (see <see cref="PartitionPipeScheduler"/>).</summary>
    public void PostAction(Action<object?> action, object? state) => Enqueue(new WorkItem(action, state, WorkKind.Action));

    /// <summary>
    /// Where work posted after this thread ended goes: the thread of the partition's next instance, so that a
    /// continuation captured on this one (a connection's I/O loop, a late callback) is not lost; the thread pool when
    /// there is none.
    /// </summary>
    public PartitionThread? Successor { get; set; }

    /// <summary>Lets the thread finish what is queued, then end; waits for it up to <paramref name="timeout"/>.</summary>
    public bool Stop(TimeSpan timeout)
    {
        _stopping = true;
        Interlocked.Exchange(ref _sleeping, 0);
        _wake.Release();
        return IsCurrent || !_thread.IsAlive || _thread.Join(timeout);
    }

    public void Dispose()
    {
        Stop(TimeSpan.FromSeconds(5));
        _wake.Dispose();
    }

    private void Enqueue(in WorkItem item)
    {
        _queue.Enqueue(item);
        Interlocked.MemoryBarrier();
        if (_exited)
        {
            Forward();
        }
        else
        {
            Wake();
        }
    }

    private void Forward()
    {
        while (_queue.TryDequeue(out var item))
        {
            if (Successor is { } successor)
            {
                successor.Enqueue(item);
            }
            else
            {
                ThreadPool.UnsafeQueueUserWorkItem(static i => Execute(i, static _ => { }), item, preferLocal: false);
            }
        }
    }

    private void Wake()
    {
        if (Volatile.Read(ref _sleeping) == 1 && Interlocked.Exchange(ref _sleeping, 0) == 1)
        {
            _wake.Release();
        }
    }

    private void Run()
    {
        t_current = this;
        var threadContext = ExecutionContext.Capture()!;
        SynchronizationContext.SetSynchronizationContext(Context);

        while (true)
        {
            Turn.EnterPartitionThread();
            while (_queue.TryDequeue(out var item))
            {
                if (Turn.IsWanted)
                {
                    Turn.YieldPartitionThread();
                }

                var started = TimeProvider.System.GetTimestamp();
                Volatile.Write(ref _turnStartedAt, started);
                Execute(item);
                Volatile.Write(ref _turnStartedAt, 0);
                OnTurnCompleted?.Invoke(TimeProvider.System.GetElapsedTime(started));

                // A work item must not leak what it changed on the thread into the next one.
                ExecutionContext.Restore(threadContext);
                if (!ReferenceEquals(SynchronizationContext.Current, Context))
                {
                    SynchronizationContext.SetSynchronizationContext(Context);
                }
            }

            Turn.ExitPartitionThread();
            if (_stopping)
            {
                // Posts racing with the end are forwarded: by this final pass, or by Enqueue once it sees _exited.
                _exited = true;

                // A full fence: Enqueue's read of _exited and this read of the queue must not both miss each other.
                Interlocked.MemoryBarrier();
                Forward();
                return;
            }

            // Announce the sleep (a full fence), then look again: a poster either sees the flag and wakes us, or
            // enqueued before the flag and we see its item here.
            Interlocked.Exchange(ref _sleeping, 1);
            if (!_queue.IsEmpty && Interlocked.Exchange(ref _sleeping, 0) == 1)
            {
                continue;
            }

            _wake.Wait();
        }
    }

    private void Execute(in WorkItem item) => Execute(item, _onUnhandledException);

    private static void Execute(in WorkItem item, Action<Exception> onUnhandledException)
    {
        try
        {
            switch (item.Kind)
            {
                case WorkKind.WorkItem:
                    Unsafe.As<IPartitionWorkItem>(item.Callback).Execute();
                    break;
                case WorkKind.Action:
                    Unsafe.As<Action<object?>>(item.Callback)(item.State);
                    break;
                default:
                    Unsafe.As<SendOrPostCallback>(item.Callback)(item.State);
                    break;
            }
        }
        catch (Exception ex)
        {
            // Work posted here includes async void continuations that rethrow; they must not end the thread.
            onUnhandledException(ex);
        }
    }

    private enum WorkKind : byte
    {
        SendOrPost,
        WorkItem,
        Action,
    }

    private readonly record struct WorkItem(object Callback, object? State, WorkKind Kind);
}
