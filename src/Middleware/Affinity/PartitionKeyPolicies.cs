using System.Buffers.Binary;
using System.Runtime.InteropServices;
using PartitionedHosting.Distribution;

namespace PartitionedHosting.Affinity;

/// <summary>Names of the built-in <see cref="IPartitionKeyPolicy"/> implementations.</summary>
public static class PartitionKeyPolicies
{
    /// <summary>
    /// Jump consistent hashing of the slot: even spread, and when the count grows to n only 1/n of the slots move
    /// (when it shrinks, only the removed partitions' slots). The default.
    /// </summary>
    public static string JumpHash => nameof(JumpHash);

    /// <summary>
    /// Rendezvous (highest random weight) hashing of the slot: the partition whose hash with the slot is highest wins.
    /// Even spread and minimal movement; costs one hash per partition and slot when the map is laid out.
    /// </summary>
    public static string Rendezvous => nameof(Rendezvous);
}

internal sealed class JumpHashKeyPolicy : IPartitionKeyPolicy
{
    public string Name => PartitionKeyPolicies.JumpHash;

    public int GetPartition(int slot, int partitionCount)
    {
        Span<byte> bytes = stackalloc byte[sizeof(int)];
        BinaryPrimitives.WriteInt32LittleEndian(bytes, slot);
        return StableHash.JumpConsistentHash(StableHash.Fnv1a64(bytes), partitionCount);
    }
}

internal sealed class RendezvousKeyPolicy : IPartitionKeyPolicy
{
    public string Name => PartitionKeyPolicies.Rendezvous;

    public int GetPartition(int slot, int partitionCount)
    {
        var keyHash = (ulong)slot;
        var best = 0;
        var bestWeight = 0UL;
        Span<ulong> pair = stackalloc ulong[2];
        for (var partition = 0; partition < partitionCount; partition++)
        {
            pair[0] = BitConverter.IsLittleEndian ? keyHash : BinaryPrimitives.ReverseEndianness(keyHash);
            pair[1] = BitConverter.IsLittleEndian ? (ulong)partition : BinaryPrimitives.ReverseEndianness((ulong)partition);
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
