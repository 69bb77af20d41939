using PartitionedHosting.Affinity;

namespace PartitionedHosting.Tests.Unit;

public sealed class PartitionKeyPolicyTests
{
    public static TheoryData<string> Policies => [PartitionKeyPolicies.JumpHash, PartitionKeyPolicies.Rendezvous];

    private static IPartitionKeyPolicy Create(string name) =>
        name == PartitionKeyPolicies.JumpHash ? new JumpHashKeyPolicy() : new RendezvousKeyPolicy();

    [Fact]
    public void JumpHash_IsPinned_SoThatKeysKeepTheirOwnerAcrossProcessesAndReleases()
    {
        var policy = new JumpHashKeyPolicy();

        // Any change to these moves keys between partitions for every deployed application.
        Assert.Equal(
            [policy.GetPartition("apple", 8), policy.GetPartition("cart-42", 8), policy.GetPartition("", 8)],
            [PinnedApple, PinnedCart42, PinnedEmpty]);
    }

    [Theory]
    [MemberData(nameof(Policies))]
    public void Keys_SpreadEvenly_AndOnlyKeysOfTheNewPartitionMoveWhenTheCountGrows(string name)
    {
        var policy = Create(name);
        const int keys = 20_000;
        var counts = new int[8];
        var moved = 0;
        for (var i = 0; i < keys; i++)
        {
            var key = $"user:{i}";
            var before = policy.GetPartition(key, 8);
            var after = policy.GetPartition(key, 9);
            counts[before]++;
            if (before != after)
            {
                moved++;
                Assert.Equal(8, after);
            }
        }

        Assert.All(counts, c => Assert.InRange(c, keys / 8 * 0.93, keys / 8 * 1.07));
        Assert.InRange(moved, keys / 9 * 0.9, keys / 9 * 1.1);
    }

    [Theory]
    [MemberData(nameof(Policies))]
    public void OnePartition_OwnsEveryKey(string name) => Assert.Equal(0, Create(name).GetPartition("anything", 1));

    // Computed by an independent C++ implementation of the same steps (FNV-1a 64 over the UTF-16 code units,
    // MurmurHash3's fmix64, jump consistent hash).
    private const int PinnedApple = 1;
    private const int PinnedCart42 = 6;
    private const int PinnedEmpty = 1;
}
