using PartitionedHosting.Affinity;

namespace PartitionedHosting.Tests.Unit;

public sealed class PartitionKeyPolicyTests
{
    public static TheoryData<string> Policies => [PartitionKeyPolicies.JumpHash, PartitionKeyPolicies.Rendezvous];

    private static IPartitionKeyPolicy Create(string name) =>
        name == PartitionKeyPolicies.JumpHash ? new JumpHashKeyPolicy() : new RendezvousKeyPolicy();

    [Fact]
    public void JumpHash_IsPinned_SoThatSlotsKeepTheirOwnerAcrossProcessesAndReleases()
    {
        var policy = new JumpHashKeyPolicy();

        // Any change to these moves slots between partitions for every deployed application.
        Assert.Equal(
            [policy.GetPartition(0, 8), policy.GetPartition(1, 8), policy.GetPartition(16383, 8), policy.GetPartition(12182, 3)],
            [7, 4, 6, 2]);
    }

    [Theory]
    [MemberData(nameof(Policies))]
    public void Slots_SpreadEvenly_AndOnlySlotsOfTheNewPartitionMoveWhenTheCountGrows(string name)
    {
        var policy = Create(name);
        const int keys = PartitionedHosting.PartitionKeySlots.Count;
        var counts = new int[8];
        var moved = 0;
        for (var slot = 0; slot < keys; slot++)
        {
            var before = policy.GetPartition(slot, 8);
            var after = policy.GetPartition(slot, 9);
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
    public void OnePartition_OwnsEverySlot(string name) =>
        Assert.All(Enumerable.Range(0, 100), slot => Assert.Equal(0, Create(name).GetPartition(slot, 1)));

    // The pinned values above come from an independent Python implementation of the same steps (FNV-1a 64 over the
    // slot's four little-endian bytes, MurmurHash3's fmix64, jump consistent hash).
}
