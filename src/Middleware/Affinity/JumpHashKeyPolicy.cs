using System.Buffers.Binary;
using PartitionedHosting.Distribution;

namespace PartitionedHosting.Affinity;

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
