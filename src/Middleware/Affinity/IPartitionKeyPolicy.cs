namespace PartitionedHosting;

/// <summary>
/// Lays out the key map: which partition owns each slot (<see cref="PartitionKeySlots"/>) for a number of
/// partitions, before any slot is moved by hand. The layout must be stable for a given count, across processes and
/// restarts, and should move few slots when the count changes: a resize moves exactly the slots whose owner differs.
/// </summary>
/// <remarks>
/// Chosen by <see cref="Name"/> through <c>PartitionedHosting:KeyPolicy</c>; register one with
/// <c>services.TryAddEnumerable(ServiceDescriptor.Singleton&lt;IPartitionKeyPolicy, T&gt;())</c>.
/// </remarks>
public interface IPartitionKeyPolicy
{
    /// <summary>The name configuration uses to choose this policy. Compared case-insensitively.</summary>
    string Name { get; }

    /// <summary>Maps <paramref name="slot"/> to a partition.</summary>
    /// <param name="slot">A slot, from 0 to <see cref="PartitionKeySlots.Count"/> - 1.</param>
    /// <param name="partitionCount">The number of partitions that own keys, 1 or more.</param>
    /// <returns>The owner's index among the partitions that own keys, from 0 to <paramref name="partitionCount"/> - 1.</returns>
    int GetPartition(int slot, int partitionCount);
}
