using PartitionedHosting.Partitions;

namespace PartitionedHosting.KeyMap;

/// <summary>A slot's owner, and the move under way, if any. Immutable: a change replaces it.</summary>
internal sealed class SlotOwner(Partition partition, SlotMove? move = null)
{
    public Partition Partition { get; } = partition;

    public SlotMove? Move { get; } = move;
}
