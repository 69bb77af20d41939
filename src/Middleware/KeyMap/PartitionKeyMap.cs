namespace PartitionedHosting;

/// <summary>
/// Who owns which slot, at one version of the key map: every key maps to a slot (<see cref="PartitionKeySlots"/>),
/// every slot to the partition that serves its keys. The table, not the hash, decides, so a resize or a move changes
/// the owners of some slots without rehashing any key.
/// </summary>
public sealed class PartitionKeyMap
{
    private readonly int[] _owners;

    internal PartitionKeyMap(long version, int[] owners, IReadOnlyCollection<int> movedByHand)
    {
        Version = version;
        _owners = owners;
        MovedByHand = movedByHand;
        var ranges = new List<PartitionSlotRange>();
        var start = 0;
        for (var slot = 1; slot <= owners.Length; slot++)
        {
            if (slot == owners.Length || owners[slot] != owners[start])
            {
                ranges.Add(new PartitionSlotRange(start, slot - 1, owners[start]));
                start = slot;
            }
        }

        Ranges = ranges;
    }

    /// <summary>The map's version: 1 at start, then one more for every change of owners (a resize, a move).</summary>
    public long Version { get; }

    /// <summary>The number of slots, <see cref="PartitionKeySlots.Count"/>.</summary>
    public int SlotCount => _owners.Length;

    /// <summary>The map as runs of consecutive slots with the same owner, in slot order.</summary>
    public IReadOnlyList<PartitionSlotRange> Ranges { get; }

    /// <summary>Slots moved by hand (<see cref="IPartitionManager.MoveSlotAsync"/>), which a resize leaves where they are.</summary>
    public IReadOnlyCollection<int> MovedByHand { get; }

    /// <summary>The partition that owns <paramref name="slot"/>.</summary>
    /// <param name="slot">A slot, from 0 to <see cref="SlotCount"/> - 1.</param>
    /// <returns>The owner's partition id.</returns>
    public int GetOwner(int slot)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(slot);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(slot, _owners.Length);
        return _owners[slot];
    }

    /// <summary>The partition that owns <paramref name="key"/>.</summary>
    /// <param name="key">A partition key.</param>
    /// <returns>The owner's partition id.</returns>
    public int GetOwner(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return _owners[PartitionKeySlots.GetSlot(key)];
    }

    /// <summary>How many slots <paramref name="partition"/> owns.</summary>
    /// <param name="partition">A partition id.</param>
    /// <returns>The number of its slots; 0 for a partition that owns none (a dedicated one, or one that does not exist).</returns>
    public int CountSlots(int partition)
    {
        var count = 0;
        foreach (var owner in _owners)
        {
            if (owner == partition)
            {
                count++;
            }
        }

        return count;
    }
}
