namespace PartitionedHosting.Execution;

/// <summary>
/// The turn of a single-threaded partition: whoever holds it runs the partition's code, one synchronous segment at a
/// time. The partition's thread holds it while it runs its queue; a thread-pool thread that must run the partition's
/// code off its thread (where the framework gives no hook to bring that code back) takes it in between, the way each
/// sub-interpreter has its own interpreter lock.
/// </summary>
/// <remarks>
/// The partition's thread pays one compare-and-swap when it wakes, one exchange when it sleeps and one read between
/// work items; everything else happens only while some other thread wants the turn. The partition's thread yields the
/// turn between work items to threads waiting for it, and gets it back before any other waiter, so neither side
/// starves.
/// </remarks>
internal sealed class PartitionTurn(TimeProvider time)
{
    private const int None = 0, PartitionThread = 1, Other = 2;

    [ThreadStatic]
    private static HeldTurn? t_held;

    // A monitor, not a Lock: waiters use Monitor.Wait and Monitor.PulseAll.
    private readonly object _lock = new();
    private int _owner;
    private int _waiters;
    private bool _threadWaits;
    private bool _grantedToThread;
    private volatile bool _broken;
    private long _otherTurnStartedAt;

    /// <summary>Whether threads other than the partition's wait for the turn: read between work items.</summary>
    public bool IsWanted => Volatile.Read(ref _waiters) != 0;

    /// <summary>When the current turn of another thread started, as a timestamp of the partition's time provider; 0 for none.</summary>
    public long OtherTurnStartedAt => Volatile.Read(ref _otherTurnStartedAt);

    /// <summary>Whether the calling thread, not being the partition's, holds the turn.</summary>
    public bool IsHeldByCurrentThread => t_held?.Turn == this;

    /// <summary>
    /// The partition's thread takes the turn before it runs work; waits while another thread holds it. False when the
    /// turn is broken and was not taken: the thread then runs nothing and must not give back what it does not hold.
    /// </summary>
    public bool EnterPartitionThread() =>
        Interlocked.CompareExchange(ref _owner, PartitionThread, None) == None || WaitForThreadTurn();

    /// <summary>The partition's thread gives the turn up before it sleeps.</summary>
    public void ExitPartitionThread()
    {
        // A full fence between giving the turn up and reading the waiters: a waiter either sees None and takes it, or
        // is counted here and woken.
        Interlocked.Exchange(ref _owner, None);
        if (Volatile.Read(ref _waiters) != 0)
        {
            lock (_lock)
            {
                Monitor.PulseAll(_lock);
            }
        }
    }

    /// <summary>
    /// A thread-pool thread standing in for the partition's sleeping thread takes the turn as the thread would
    /// (<see cref="IdleResume.ThreadPool"/>); false, without waiting, when someone holds it.
    /// </summary>
    public bool TryEnterStandIn() => !_broken && Interlocked.CompareExchange(ref _owner, PartitionThread, None) == None;

    /// <summary>Gives back a turn taken by <see cref="TryEnterStandIn"/>, to the partition's thread if it woke up and waits.</summary>
    public void ExitStandIn()
    {
        lock (_lock)
        {
            Volatile.Write(ref _owner, None);
            Monitor.PulseAll(_lock);
        }
    }

    /// <summary>Between two work items: lets the threads waiting for the turn run, then takes it back.</summary>
    public void YieldPartitionThread()
    {
        lock (_lock)
        {
            Volatile.Write(ref _owner, None);
            _threadWaits = true;
            Monitor.PulseAll(_lock);
            while (!_grantedToThread)
            {
                Monitor.Wait(_lock);
            }

            _grantedToThread = false;
            _threadWaits = false;
        }
    }

    /// <summary>
    /// Gives up on the turn when its partition's thread is given up (deadlocked while holding it): threads waiting
    /// for it stop waiting, and it is no longer taken.
    /// </summary>
    public void Break()
    {
        _broken = true;
        lock (_lock)
        {
            Monitor.PulseAll(_lock);
        }
    }

    /// <summary>
    /// A thread other than the partition's takes the turn, waiting for it if needed; re-entrant. Returns false
    /// when the thread holds another partition's turn and this one is not free at once (it never waits for a turn
    /// while holding one, so two turns cannot deadlock), and when the turn is broken.
    /// </summary>
    public bool EnterOtherThread()
    {
        if (_broken)
        {
            return false;
        }

        if (t_held is { } held)
        {
            if (held.Turn == this)
            {
                held.Depth++;
                return true;
            }

            if (Interlocked.CompareExchange(ref _owner, Other, None) != None)
            {
                return false;
            }
        }
        else if (Interlocked.CompareExchange(ref _owner, Other, None) != None)
        {
            lock (_lock)
            {
                _waiters++;
                while (true)
                {
                    // Broken first: a turn given up with its thread must not be taken over while that thread may run.
                    if (_broken)
                    {
                        _waiters--;
                        return false;
                    }

                    if (Interlocked.CompareExchange(ref _owner, Other, None) == None)
                    {
                        break;
                    }

                    Monitor.Wait(_lock);
                }

                _waiters--;
            }
        }

        t_held = new HeldTurn(this, t_held);
        Volatile.Write(ref _otherTurnStartedAt, time.GetTimestamp());
        return true;
    }

    /// <summary>Gives back a turn taken by <see cref="EnterOtherThread"/>, to the partition's thread first.</summary>
    public void ExitOtherThread()
    {
        var held = t_held;
        if (held?.Turn != this)
        {
            return;
        }

        if (--held.Depth > 0)
        {
            return;
        }

        t_held = held.Outer;
        Volatile.Write(ref _otherTurnStartedAt, 0);
        lock (_lock)
        {
            if (_threadWaits)
            {
                _grantedToThread = true;
                Volatile.Write(ref _owner, PartitionThread);
            }
            else
            {
                Volatile.Write(ref _owner, None);
            }

            Monitor.PulseAll(_lock);
        }
    }

    private bool WaitForThreadTurn()
    {
        lock (_lock)
        {
            _threadWaits = true;
            bool taken;
            while (!(taken = _grantedToThread || Interlocked.CompareExchange(ref _owner, PartitionThread, None) == None) && !_broken)
            {
                Monitor.Wait(_lock);
            }

            _grantedToThread = false;
            _threadWaits = false;
            return taken;
        }
    }

    private sealed class HeldTurn(PartitionTurn turn, HeldTurn? outer)
    {
        public PartitionTurn Turn => turn;

        public HeldTurn? Outer => outer;

        public int Depth { get; set; } = 1;
    }
}
