using System.Buffers.Binary;
using System.Runtime.InteropServices;
using PartitionedHosting.Distribution;

namespace PartitionedHosting.Affinity;

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
