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
/// <para>
/// With <see cref="ResumeOnThreadPool"/>, a continuation posted while the thread sleeps is not a reason to wake it:
/// one thread-pool work item (queued locally, so the posting thread-pool thread picks it up next, with no context
/// switch) takes the turn as the thread's stand-in, runs what is queued for at most <see cref="StandInQuantum"/>, and
/// gives the turn back. Work always goes through the queue and at most one stand-in is queued or runs at a time, so
/// the partition's work keeps its order; posts while it runs do not wake the thread, posts while it is only queued do
/// (a busy thread pool must not hold the partition up).
/// </para>
/// </remarks>
internal sealed class PartitionThread : IDisposable
{
    [ThreadStatic]
    private static PartitionThread? t_current;

    private readonly ConcurrentQueue<WorkItem> _queue = new();
    private readonly SemaphoreSlim _wake = new(0);
    private readonly Thread _thread;
    private readonly Action<Exception> _onUnhandledException;
    private readonly TimeProvider _time;
    private readonly TaskCompletionSource _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private const int NoStandIn = 0, StandInQueued = 1, StandInRunning = 2;

    private readonly StandIn _standIn;
    private int _sleeping;

    // Whether a stand-in is queued to the thread pool or runs. While it runs it runs what is queued, so posters do not
    // wake the thread; while it is only queued it may wait for a busy thread pool, so they do.
    private int _standInState;
    private volatile bool _stopping;
    private volatile bool _abandoned;
    private volatile bool _ended;
    private long _turnStartedAt;

    // Requests the current turn ran inline (see TryRunInline); only the turn's holder touches it.
    private int _inlineRequestsThisTurn;

    public PartitionThread(string name, Action<Exception> onUnhandledException, TimeProvider? time = null)
    {
        _onUnhandledException = onUnhandledException;
        _time = time ?? TimeProvider.System;
        Context = new PartitionSynchronizationContext(this);
        Turn = new PartitionTurn(_time);
        _thread = new Thread(Run) { Name = name, IsBackground = true };
        _standIn = new StandIn(this);
    }

    /// <summary>The longest a stand-in runs the partition's queue before it leaves the rest to the thread.</summary>
    public static TimeSpan StandInQuantum { get; } = TimeSpan.FromMilliseconds(1);

    /// <summary>
    /// Whether a continuation posted while the thread sleeps runs on the thread pool, under the partition's turn,
    /// instead of waking the thread (<see cref="IdleResume.ThreadPool"/>).
    /// </summary>
    public bool ResumeOnThreadPool { get; init; }

    public PartitionSynchronizationContext Context { get; }

    /// <summary>The partition's turn: held by this thread while it runs work, or by a thread that runs the partition's code off it.</summary>
    public PartitionTurn Turn { get; }

    public int ManagedThreadId => _thread.ManagedThreadId;

    /// <summary>
    /// When the current turn (one work item: a synchronous segment of request code, on this thread or, holding
    /// <see cref="Turn"/>, on another) started, as a timestamp of the thread's <see cref="TimeProvider"/>; 0 while the
    /// partition is idle. Read by the watchdog from another thread.
    /// </summary>
    public long TurnStartedAt => Volatile.Read(ref _turnStartedAt) is var started and not 0 ? started : Turn.OtherTurnStartedAt;

    /// <summary>How long the current turn of this thread has run; zero while idle.</summary>
    public TimeSpan CurrentTurn => Volatile.Read(ref _turnStartedAt) is var started and not 0 ? _time.GetElapsedTime(started) : TimeSpan.Zero;

    /// <summary>
    /// Called on this thread (or its stand-in) by a request that would run inline in the current turn: true for the first
    /// such request of a turn that resumed a connection's pipe (<see cref="PostAction"/>), whatever the turn spent before
    /// it (reading and parsing it, compiling code for it), and otherwise while the turn is within
    /// <paramref name="quantum"/>, so that a burst read in one turn (pipelined requests, or the next request parsed
    /// after a queued one completed) cannot hold the partition's other work up for longer.
    /// </summary>
    public bool TryRunInline(TimeSpan quantum) => _inlineRequestsThisTurn++ == 0 || CurrentTurn <= quantum;

    /// <summary>Receives the duration of every turn, when set (metrics).</summary>
    public Action<TimeSpan>? OnTurnCompleted { get; set; }

    /// <summary>The partition thread the calling code runs on, if any.</summary>
    public static PartitionThread? Current => t_current;

    /// <summary>Whether the calling code runs on this partition's thread.</summary>
    public bool IsCurrent => ReferenceEquals(t_current, this);

    /// <summary>Completes when the thread has ended.</summary>
    public Task Exited => _exited.Task;

    /// <summary>
    /// Where work posted after this thread ended, or was abandoned, goes: the thread of the partition's next instance,
    /// so that a continuation captured on this one (a late callback, a request's next segment) is not lost; the thread
    /// pool when there is none.
    /// </summary>
    public PartitionThread? Successor { get; set; }

    // UnsafeStart: the thread must not inherit the execution context of whoever created it (a request that triggered
    // a recycle): the thread restores that context after every work item.
    public void Start() => _thread.UnsafeStart();

    public void Post(SendOrPostCallback callback, object? state) => Enqueue(new WorkItem(callback, state, WorkKind.SendOrPost), ResumeOnThreadPool);

    /// <summary>
    /// Posts to the thread itself, never to a stand-in: for a poster that blocks until the work has run
    /// (<see cref="PartitionSynchronizationContext.Send"/>), whose own thread-pool thread could not run a stand-in.
    /// </summary>
    public void PostToThread(SendOrPostCallback callback, object? state) => Enqueue(new WorkItem(callback, state, WorkKind.SendOrPost));

    public void Post(IPartitionWorkItem item) => Enqueue(new WorkItem(item, null, WorkKind.WorkItem));

    /// <summary>Queues a pipe continuation (see <see cref="PartitionPipeScheduler"/>).</summary>
    public void PostAction(Action<object?> action, object? state) => Enqueue(new WorkItem(action, state, WorkKind.Action));

    /// <summary>Lets the thread finish what is queued, then end; <see cref="Exited"/> tells when it has.</summary>
    public void Stop()
    {
        _stopping = true;
        Interlocked.Exchange(ref _sleeping, 0);
        _wake.Release();
    }

    /// <summary>
    /// Gives the thread up, presumed lost (deadlocked on its own work): its queued work, and work posted from now on,
    /// goes to <paramref name="successor"/>, except work items that can start over elsewhere (requests not started
    /// yet), which are redirected. Other threads no longer wait for its turn. Should the thread ever return from its
    /// current work item, it ends.
    /// </summary>
    public void Abandon(PartitionThread? successor)
    {
        Successor = successor;
        _abandoned = true;
        Turn.Break();

        // A thread that sleeps while a stand-in of it is lost on the thread pool wakes up to end.
        Wake();

        // A full fence: Enqueue's read of _abandoned and this drain must not both miss an item.
        Interlocked.MemoryBarrier();
        Forward();
    }

    public void Dispose()
    {
        Stop();
        if (!IsCurrent)
        {
            _thread.Join(TimeSpan.FromSeconds(5));
        }
    }

    // Every item goes through the queue, whoever runs it (the thread or a stand-in), so the partition's work keeps its
    // order whichever of them gets the turn first.
    private void Enqueue(in WorkItem item, bool standIn = false)
    {
        _queue.Enqueue(item);
        Interlocked.MemoryBarrier();
        if (_ended || _abandoned)
        {
            Forward();
        }
        else if (standIn && TryScheduleStandIn())
        {
            return;
        }
        else if (Volatile.Read(ref _standInState) != StandInRunning)
        {
            Wake();
        }
    }

    /// <summary>
    /// Queues a stand-in to the thread pool, instead of waking the thread, when the thread sleeps and no stand-in is
    /// queued or runs; false when the thread should be woken.
    /// </summary>
    private bool TryScheduleStandIn()
    {
        if (t_current is not null || Volatile.Read(ref _sleeping) == 0 || _stopping ||
            Interlocked.CompareExchange(ref _standInState, StandInQueued, NoStandIn) != NoStandIn)
        {
            return false;
        }

        // Locally: the posting thread-pool thread (which completed the awaited work) picks it up next.
        ThreadPool.UnsafeQueueUserWorkItem(_standIn, preferLocal: true);
        return true;
    }

    /// <summary>On a thread-pool thread: runs what is queued, under the turn, for at most <see cref="StandInQuantum"/>.</summary>
    private void RunStandIn()
    {
        if (_stopping || _ended || _abandoned || !Turn.TryEnterStandIn())
        {
            // The thread woke up in between and holds the turn (or is ending): it runs the queue.
            EndStandIn();
            return;
        }

        Volatile.Write(ref _standInState, StandInRunning);
        var threadContext = ExecutionContext.Capture()!;
        t_current = this;
        SynchronizationContext.SetSynchronizationContext(Context);
        try
        {
            var started = _time.GetTimestamp();
            while (!_ended && !_abandoned && _queue.TryDequeue(out var item))
            {
                RunTurn(item);
                ExecutionContext.Restore(threadContext);
                SynchronizationContext.SetSynchronizationContext(Context);
                if (Turn.IsWanted || _time.GetElapsedTime(started) >= StandInQuantum)
                {
                    break;
                }
            }
        }
        finally
        {
            t_current = null;
            SynchronizationContext.SetSynchronizationContext(null);
            Turn.ExitStandIn();
            EndStandIn();
        }
    }

    // A full fence between clearing the state and looking at the queue: a poster either sees the state cleared and
    // wakes the thread, or enqueued before and is seen here.
    private void EndStandIn()
    {
        Interlocked.Exchange(ref _standInState, NoStandIn);
        if (!_queue.IsEmpty)
        {
            Wake();
        }
    }

    private void Forward()
    {
        while (_queue.TryDequeue(out var item))
        {
            if (item.Callback is IRedirectableWorkItem redirectable && redirectable.TryRedirect())
            {
                continue;
            }

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

        try
        {
            while (true)
            {
                var entered = Turn.EnterPartitionThread();
                while (entered && !_abandoned && _queue.TryDequeue(out var item))
                {
                    if (Turn.IsWanted)
                    {
                        Turn.YieldPartitionThread();
                    }

                    RunTurn(item);

                    // A work item must not leak what it changed on the thread into the next one.
                    ExecutionContext.Restore(threadContext);
                    if (!ReferenceEquals(SynchronizationContext.Current, Context))
                    {
                        SynchronizationContext.SetSynchronizationContext(Context);
                    }
                }

                if (entered)
                {
                    Turn.ExitPartitionThread();
                }

                if (_stopping || _abandoned)
                {
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
        finally
        {
            // Posts racing with the end are forwarded: by this final pass, or by Enqueue once it sees _ended.
            _ended = true;

            // A full fence: Enqueue's read of _ended and this read of the queue must not both miss each other.
            Interlocked.MemoryBarrier();
            Forward();
            _exited.TrySetResult();
        }
    }

    private void RunTurn(in WorkItem item)
    {
        var started = _time.GetTimestamp();
        Volatile.Write(ref _turnStartedAt, started);

        // A turn that resumes a connection's pipe (a transport's read, the server's parsing) may run its first request
        // whatever it spent before it; a turn that runs a request or a continuation has had its share already.
        _inlineRequestsThisTurn = item.Kind == WorkKind.Action ? 0 : 1;
        Execute(item, _onUnhandledException);
        Volatile.Write(ref _turnStartedAt, 0);
        OnTurnCompleted?.Invoke(_time.GetElapsedTime(started));
    }

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

    /// <summary>The thread's one stand-in work item: reused, since at most one is queued or runs at a time.</summary>
    private sealed class StandIn(PartitionThread thread) : IThreadPoolWorkItem
    {
        public void Execute() => thread.RunStandIn();
    }
}
