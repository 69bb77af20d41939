using System.Net;

namespace PartitionedHosting.Distribution;

internal sealed class ClientAddressHashPolicy : IConnectionDistributionPolicy
{
    private readonly RoundRobinPolicy _fallback = new();

    public string Name => ConnectionDistributionPolicies.ClientAddressHash;

    public int SelectPartition(ConnectionDistributionContext context)
    {
        if (context.RemoteEndPoint is not IPEndPoint { Address: var address })
        {
            return _fallback.SelectPartition(context);
        }

        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out var written);
        return StableHash.JumpConsistentHash(StableHash.Fnv1a64(bytes[..written]), context.Partitions.Count);
    }
}
