using System.Net;
using PartitionedHosting.Distribution;

namespace PartitionedHosting.Tests.Unit;

public sealed class ConnectionDistributionPolicyTests
{
    private static readonly IPartitionContext[] s_four = [.. Enumerable.Range(0, 4).Select(_ => (IPartitionContext)null!)];

    [Theory]
    [InlineData("127.0.0.1", 1)]
    [InlineData("10.0.0.1", 3)]
    [InlineData("192.168.1.20", 0)]
    [InlineData("::ffff:10.0.0.1", 3)]
    [InlineData("::1", 3)]
    public void ClientAddressHash_MapsAnAddressToItsPinnedPartition(string address, int expected)
    {
        // Expected values from an independent implementation (FNV-1a 64 with the MurmurHash3 finalizer over the address
        // bytes, IPv4-mapped addresses as IPv4, then Lamping and Veach's jump hash over 4 partitions).
        var context = new ConnectionDistributionContext(new IPEndPoint(IPAddress.Parse(address), 40000), s_four);

        Assert.Equal(expected, new ClientAddressHashPolicy().SelectPartition(context));
    }

    [Fact]
    public void ClientAddressHash_WithoutAnAddress_FallsBackToRoundRobin()
    {
        var policy = new ClientAddressHashPolicy();
        var context = new ConnectionDistributionContext(null, s_four);

        Assert.Equal([0, 1, 2, 3, 0], Enumerable.Range(0, 5).Select(_ => policy.SelectPartition(context)));
    }
}
