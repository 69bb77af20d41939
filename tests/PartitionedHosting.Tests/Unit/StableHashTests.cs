using System.Text;
using PartitionedHosting.Distribution;

namespace PartitionedHosting.Tests.Unit;

public sealed class StableHashTests
{
    [Fact]
    public void Fnv1a64_IsPinned_SoThatClientsKeepTheirPartitionAcrossReleases()
    {
        // Values of an independent C++ implementation of the same hash; a change here would move every client of
        // ClientAddressHash (and every key) to another partition.
        Assert.Equal(0xD769637A0E8DF381UL, StableHash.Fnv1a64("partition"u8));
        Assert.Equal(0xE2B8DCD14D0DE18AUL, StableHash.Fnv1a64([127, 0, 0, 1]));
    }

    [Fact]
    public void JumpConsistentHash_MatchesTheReferenceImplementation()
    {
        // Values of the C++ reference implementation published by Lamping and Veach.
        Assert.Equal(0, StableHash.JumpConsistentHash(0, 1));
        Assert.Equal(0, StableHash.JumpConsistentHash(0, 100));
        Assert.Equal(55, StableHash.JumpConsistentHash(1, 100));
        Assert.Equal(87, StableHash.JumpConsistentHash(0xDEADBEEF, 128));
        Assert.Equal(294, StableHash.JumpConsistentHash(123456789, 1000));
        Assert.Equal(2, StableHash.JumpConsistentHash(ulong.MaxValue, 7));
    }

    [Fact]
    public void JumpConsistentHash_SpreadsKeysEvenly_AndMovesFewWhenTheCountGrows()
    {
        const int keys = 40_000;
        var counts = new int[8];
        var moved = 0;
        for (var i = 0; i < keys; i++)
        {
            var hash = StableHash.Fnv1a64(Encoding.UTF8.GetBytes($"key-{i}"));
            var bucket = StableHash.JumpConsistentHash(hash, 8);
            counts[bucket]++;
            if (StableHash.JumpConsistentHash(hash, 9) != bucket)
            {
                moved++;
            }
        }

        Assert.All(counts, c => Assert.InRange(c, keys / 8 * 0.95, keys / 8 * 1.05));

        // Growing from 8 to 9 buckets should move about 1/9 of the keys, and only to the new bucket.
        Assert.InRange(moved, keys / 9 * 0.9, keys / 9 * 1.1);
    }
}
