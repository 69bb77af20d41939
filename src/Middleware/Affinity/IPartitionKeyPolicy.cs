namespace PartitionedHosting.Affinity;

/// <summary>
/// Maps a partition key to its owner partition. The mapping must be stable for a given partition count, across
/// processes and restarts, so it must not use <see cref="string.GetHashCode()"/>.
/// </summary>
/// <remarks>
/// Chosen by <see cref="Name"/> through <c>PartitionedHosting:KeyPolicy</c>; register one with
/// <c>services.TryAddEnumerable(ServiceDescriptor.Singleton&lt;IPartitionKeyPolicy, T&gt;())</c>.
/// </remarks>
public interface IPartitionKeyPolicy
{
    /// <summary>The name configuration uses to choose this policy. Compared case-insensitively.</summary>
    string Name { get; }

    /// <summary>Maps <paramref name="key"/> to a partition.</summary>
    /// <param name="key">The partition key.</param>
    /// <param name="partitionCount">The number of partitions, 1 or more.</param>
    /// <returns>The owner's index, from 0 to <paramref name="partitionCount"/> - 1.</returns>
    int GetPartition(ReadOnlySpan<char> key, int partitionCount);
}
