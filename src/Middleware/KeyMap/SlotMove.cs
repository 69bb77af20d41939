using System.Collections.Frozen;
using PartitionedHosting.Partitions;

namespace PartitionedHosting.KeyMap;

/// <summary>
/// Slots moving from one partition to another: the work that waits for them, in arrival order, and the signal that
/// the last work in flight for one of them has ended.
/// </summary>
internal sealed class SlotMove(Partition from, Partition to, int[] slots)
{
    private const int Moving = 0, Released = 1, Expired = 2;

    private readonly Lock _lock = new();
    private Queue<ISlotWaiter>? _waiters;
    private int _state;
    private int _ended;
    private int _drainClosed;
    private TaskCompletionSource _pulse = NewPulse();

    public Partition From { get; } = from;

    public Partition To { get; } = to;

    public int[] Slots { get; } = slots;

    public IReadOnlySet<int> SlotSet { get; } = slots.ToFrozenSet();

    /// <summary>
    /// Whether the move still waits for its slots' work to end: work of the old owner's own thread may then join it
    /// (a key call made by a request of one of the moving slots), since the state has not left yet.
    /// </summary>
    public bool IsDraining => Volatile.Read(ref _drainClosed) == 0;

    /// <summary>No work joins any more (the mover then checks that none joined in between).</summary>
    public void CloseDrain() => Interlocked.Exchange(ref _drainClosed, 1);

    public void ReopenDrain() => Interlocked.Exchange(ref _drainClosed, 0);

    /// <summary>Claims the end of the move: true once.</summary>
    public bool TryEnd() => Interlocked.Exchange(ref _ended, 1) == 0;

    /// <summary>Completes when work in flight for a slot of the move may have ended (then look again).</summary>
    public Task Pulsed => Volatile.Read(ref _pulse).Task;

    /// <summary>How much work waits for the move.</summary>
    public int Waiting
    {
        get
        {
            lock (_lock)
            {
                return _waiters?.Count ?? 0;
            }
        }
    }

    public void Pulse() => Interlocked.Exchange(ref _pulse, NewPulse()).TrySetResult();

    /// <summary>
    /// Resumes <paramref name="waiter"/> when the move ends: with true, where the move is released (on the new owner,
    /// on its thread when single-threaded), one waiter after the other in arrival order; with false, where the move
    /// expired (it took longer than allowed). At once, on the caller's thread, when the move has already ended.
    /// </summary>
    public void Wait(ISlotWaiter waiter)
    {
        lock (_lock)
        {
            if (_state == Moving)
            {
                (_waiters ??= new()).Enqueue(waiter);
                return;
            }
        }

        waiter.Resume(_state == Released);
    }

    /// <summary>Waits for the move to end, as <see cref="Wait(ISlotWaiter)"/>; the continuation runs on the thread pool.</summary>
    public Task<bool> WaitAsync()
    {
        var waiter = new TaskWaiter();
        Wait(waiter);
        return waiter.Task;
    }

    /// <summary>The move took too long: what waits for it, and what comes to wait later, gives up.</summary>
    public void Expire() => Complete(Expired);

    /// <summary>The move ended (or failed, and its slots stayed): what waits enters the slot again, one by one in arrival order.</summary>
    public void Release() => Complete(Released);

    private void Complete(int state)
    {
        while (true)
        {
            ISlotWaiter waiter;
            lock (_lock)
            {
                if (_state == Moving || state == Released)
                {
                    _state = state;
                }

                if (_waiters is not { Count: > 0 } waiters)
                {
                    return;
                }

                waiter = waiters.Dequeue();
            }

            // Outside the lock, here, synchronously: each waiter starts before the next one is resumed.
            waiter.Resume(state == Released);
        }
    }

    private sealed class TaskWaiter() : TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously), ISlotWaiter
    {
        public void Resume(bool entered) => TrySetResult(entered);
    }

    private static TaskCompletionSource NewPulse() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
