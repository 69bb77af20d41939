namespace PartitionedHosting;

/// <summary>Consecutive slots with the same owner.</summary>
/// <param name="Start">The first slot.</param>
/// <param name="End">The last slot (inclusive).</param>
/// <param name="Partition">Their owner.</param>
public readonly record struct PartitionSlotRange(int Start, int End, int Partition);
