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
    private Queue<TaskCompletionSource<bool>>? _waiters;
    private int _state;
    private TaskCompletionSource _pulse = NewPulse();

    public Partition From { get; } = from;

    public Partition To { get; } = to;

    public int[] Slots { get; } = slots;

    public IReadOnlySet<int> SlotSet { get; } = slots.ToFrozenSet();

    /// <summary>Completes when work in flight for a slot of the move may have ended (then look again).</summary>
    public Task Pulsed => Volatile.Read(ref _pulse).Task;

    public void Pulse() => Interlocked.Exchange(ref _pulse, NewPulse()).TrySetResult();

    /// <summary>
    /// Waits for the move to end: true when the slot can be entered again, false when the move took longer than
    /// allowed. The continuation runs where the move is released (on the new owner, in arrival order), or where it
    /// expired: the waiter decides where to go from there.
    /// </summary>
    public Task<bool> WaitAsync()
    {
        lock (_lock)
        {
            switch (_state)
            {
                case Released:
                    return Task.FromResult(true);
                case Expired:
                    return Task.FromResult(false);
            }

            // Continuations run synchronously, in the order the work arrived, where the move releases them.
            var waiter = new TaskCompletionSource<bool>(TaskCreationOptions.None);
            (_waiters ??= new()).Enqueue(waiter);
            return waiter.Task;
        }
    }

    /// <summary>The move took too long: what waits for it, and what comes to wait later, gives up.</summary>
    public void Expire() => Complete(Expired);

    /// <summary>The move ended (or failed, and its slots stayed): what waits enters the slot again, one by one in arrival order.</summary>
    public void Release() => Complete(Released);

    private void Complete(int state)
    {
        while (true)
        {
            TaskCompletionSource<bool> waiter;
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

            // Outside the lock: the waiter's continuation runs here, synchronously.
            waiter.TrySetResult(state == Released);
        }
    }

    private static TaskCompletionSource NewPulse() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
