using System.Runtime.InteropServices;
using PartitionedHosting.Distribution;

namespace PartitionedHosting.Affinity;

/// <summary>Names of the built-in <see cref="IPartitionKeyPolicy"/> implementations.</summary>
public static class PartitionKeyPolicies
{
    /// <summary>
    /// FNV-1a of the key's UTF-16 code units, mapped by jump consistent hashing: even spread, and only 1/n of the
    /// keys move when the count grows to n. The default.
    /// </summary>
    public static string JumpHash => nameof(JumpHash);

    /// <summary>
    /// Rendezvous (highest random weight) hashing: the partition whose hash with the key is highest wins. Even
    /// spread and minimal movement when partitions are added or removed anywhere; costs one hash per partition.
    /// </summary>
    public static string Rendezvous => nameof(Rendezvous);
}

internal sealed class JumpHashKeyPolicy : IPartitionKeyPolicy
{
    public string Name => PartitionKeyPolicies.JumpHash;

    public int GetPartition(ReadOnlySpan<char> key, int partitionCount) =>
        StableHash.JumpConsistentHash(StableHash.Fnv1a64(MemoryMarshal.AsBytes(key)), partitionCount);
}

internal sealed class RendezvousKeyPolicy : IPartitionKeyPolicy
{
    public string Name => PartitionKeyPolicies.Rendezvous;

    public int GetPartition(ReadOnlySpan<char> key, int partitionCount)
    {
        var keyHash = StableHash.Fnv1a64(MemoryMarshal.AsBytes(key));
        var best = 0;
        var bestWeight = 0UL;
        Span<ulong> pair = stackalloc ulong[2];
        for (var partition = 0; partition < partitionCount; partition++)
        {
            pair[0] = keyHash;
            pair[1] = (ulong)partition;
            var weight = StableHash.Fnv1a64(MemoryMarshal.AsBytes(pair));
            if (partition == 0 || weight > bestWeight)
            {
                best = partition;
                bestWeight = weight;
            }
        }

        return best;
    }
}
