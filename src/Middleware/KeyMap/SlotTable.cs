using PartitionedHosting.Partitions;

namespace PartitionedHosting.KeyMap;

/// <summary>
/// The live key map: each slot's owner, and the keyed work in flight per slot, so that a slot can move only once its
/// work has ended, and work for a moving slot waits for the move.
/// </summary>
/// <remarks>
/// A slot's state is an immutable <see cref="SlotOwner"/>, replaced whole. Work enters a slot by counting itself in,
/// then checking that the state is still the one it read; a move replaces the state, then waits for the count to reach
/// zero. Both sides use interlocked operations (full fences), so either the work sees the move and backs off, or the
/// move sees the work and waits for it.
/// </remarks>
internal sealed class SlotTable
{
    private readonly SlotOwner[] _owners = new SlotOwner[PartitionKeySlots.Count];
    private readonly int[] _inFlight = new int[PartitionKeySlots.Count];
    private readonly HashSet<int> _movedByHand = [];
    private readonly Lock _mapLock = new();
    private long _version;
    private PartitionKeyMap? _snapshot;

    /// <summary>Fills the table (at start): no work is in flight yet.</summary>
    public void Initialize(Func<int, Partition> owner)
    {
        for (var slot = 0; slot < _owners.Length; slot++)
        {
            _owners[slot] = owner(slot).OwnedSlots;
        }

        _version = 1;
        _snapshot = null;
    }

    public long Version => Volatile.Read(ref _version);

    /// <summary>The partition that owns <paramref name="slot"/> now (the old owner while it moves).</summary>
    public Partition GetOwner(int slot) => Volatile.Read(ref _owners[slot]).Partition;

    /// <summary>Whether <paramref name="slot"/> was moved by hand (a resize leaves it where it is).</summary>
    public bool IsMovedByHand(int slot)
    {
        lock (_mapLock)
        {
            return _movedByHand.Contains(slot);
        }
    }

    /// <summary>
    /// Counts work in for <paramref name="slot"/> and returns its owner; or, while the slot moves, returns the move to
    /// wait for (and counts nothing). Work counted in must be counted out with <see cref="Exit"/>.
    /// </summary>
    public Partition? TryEnter(int slot, out SlotMove? move)
    {
        while (true)
        {
            var state = Volatile.Read(ref _owners[slot]);
            if (state.Move is { } moving)
            {
                move = moving;
                return null;
            }

            Interlocked.Increment(ref _inFlight[slot]);
            if (ReferenceEquals(Volatile.Read(ref _owners[slot]), state))
            {
                move = null;
                return state.Partition;
            }

            // A move began in between: let it see the slot empty.
            Exit(slot);
        }
    }

    /// <summary>
    /// Counts work in for <paramref name="slot"/> while <paramref name="move"/> still drains it: work the slot's old
    /// owner starts on its own thread on behalf of work the move waits for, which would otherwise wait for the move
    /// while the move waits for it. Returns false when the drain has closed (then wait for the move).
    /// </summary>
    public bool TryJoinDrain(int slot, SlotMove move)
    {
        Interlocked.Increment(ref _inFlight[slot]);
        if (ReferenceEquals(Volatile.Read(ref _owners[slot]).Move, move) && move.IsDraining)
        {
            return true;
        }

        Exit(slot);
        return false;
    }

    /// <summary>Counts out work counted in by <see cref="TryEnter"/>; the last one out of a moving slot tells the move.</summary>
    public void Exit(int slot)
    {
        if (Interlocked.Decrement(ref _inFlight[slot]) == 0 && Volatile.Read(ref _owners[slot]).Move is { } move)
        {
            move.Pulse();
        }
    }

    /// <summary>How much work waits for <paramref name="slot"/> to move; 0 when it does not move.</summary>
    public int CountWaiting(int slot) => Volatile.Read(ref _owners[slot]).Move?.Waiting ?? 0;

    /// <summary>Marks <paramref name="move"/>'s slots as moving: from now on, work for them waits.</summary>
    public void BeginMove(SlotMove move)
    {
        var state = new SlotOwner(move.From, move);
        foreach (var slot in move.Slots)
        {
            Interlocked.Exchange(ref _owners[slot], state);
        }
    }

    /// <summary>Whether <paramref name="partition"/> owns at least one slot.</summary>
    public bool OwnsAny(Partition partition)
    {
        foreach (var state in _owners)
        {
            if (state.Partition == partition)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Whether work counted in for a slot of <paramref name="move"/> is still running.</summary>
    public bool HasWorkInFlight(SlotMove move)
    {
        foreach (var slot in move.Slots)
        {
            if (Volatile.Read(ref _inFlight[slot]) != 0)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>How much work counted in for the slots of <paramref name="move"/> is still running.</summary>
    public int CountWorkInFlight(SlotMove move) => move.Slots.Sum(CountWorkInFlight);

    /// <summary>How much work is counted in <paramref name="slot"/>.</summary>
    public int CountWorkInFlight(int slot) => Volatile.Read(ref _inFlight[slot]);

    /// <summary>Ends <paramref name="move"/>: its slots now belong to <paramref name="owner"/> (its target, or its source when it failed).</summary>
    public void EndMove(SlotMove move, Partition owner, bool byHand)
    {
        using var scope = _mapLock.EnterScope();
        foreach (var slot in move.Slots)
        {
            Interlocked.Exchange(ref _owners[slot], owner.OwnedSlots);
            if (owner == move.To)
            {
                if (byHand)
                {
                    _movedByHand.Add(slot);
                }
                else
                {
                    _movedByHand.Remove(slot);
                }
            }
        }

        Interlocked.Increment(ref _version);
        Volatile.Write(ref _snapshot, null);
    }

    /// <summary>Forgets the slots moved by hand to partitions that no longer exist.</summary>
    public void ForgetMovesTo(Func<int, bool> removed)
    {
        lock (_mapLock)
        {
            _movedByHand.RemoveWhere(slot => removed(GetOwner(slot).Id));
        }
    }

    /// <summary>A copy of the table, cached per version.</summary>
    public PartitionKeyMap Snapshot()
    {
        if (Volatile.Read(ref _snapshot) is { } snapshot && snapshot.Version == Version)
        {
            return snapshot;
        }

        lock (_mapLock)
        {
            var version = Version;
            var owners = new int[_owners.Length];
            for (var slot = 0; slot < owners.Length; slot++)
            {
                owners[slot] = Volatile.Read(ref _owners[slot]).Partition.Id;
            }

            snapshot = new PartitionKeyMap(version, owners, [.. _movedByHand.Order()]);
            Volatile.Write(ref _snapshot, snapshot);
            return snapshot;
        }
    }
}
