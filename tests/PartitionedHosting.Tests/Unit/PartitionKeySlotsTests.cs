using System.Text;

namespace PartitionedHosting.Tests.Unit;

/// <summary>The key-to-slot hash is a contract: Redis Cluster's HASH_SLOT, the same in every process and release.</summary>
public sealed class PartitionKeySlotsTests
{
    [Fact]
    public void Crc16_IsXmodem() =>
        // The check value of CRC-16/XMODEM in the catalogue of CRC algorithms.
        Assert.Equal(0x31C3, PartitionKeySlots.Crc16("123456789"u8));

    [Theory]
    // Values published in Redis Cluster's documentation and returned by CLUSTER KEYSLOT.
    [InlineData("foo", 12182)]
    [InlineData("somekey", 11058)]
    [InlineData("bar", 5061)]
    public void Slots_MatchRedisCluster(string key, int slot) => Assert.Equal(slot, PartitionKeySlots.GetSlot(key));

    [Theory]
    [InlineData("{user1000}.following", "user1000")]
    [InlineData("{user1000}.followers", "user1000")]
    [InlineData("foo{}{bar}", "foo{}{bar}")]
    [InlineData("foo{{bar}}zap", "{bar")]
    [InlineData("foo{bar}{zap}", "bar")]
    [InlineData("no tag}{", "no tag}{")]
    public void HashTags_HashOnlyTheTag(string key, string hashed) =>
        Assert.Equal(Reference(Encoding.UTF8.GetBytes(hashed)), PartitionKeySlots.GetSlot(key));

    [Fact]
    public void EveryKey_MatchesAnIndependentBitwiseImplementation()
    {
        var random = new Random(42);
        for (var i = 0; i < 2_000; i++)
        {
            // Short and long (beyond the stack buffer), ASCII and not.
            var length = random.Next(0, i % 10 == 0 ? 600 : 40);
            var key = new string([.. Enumerable.Range(0, length).Select(_ => (char)(i % 3 == 0 ? random.Next(0x20, 0x3000) : random.Next(0x20, 0x7F)))]);
            Assert.Equal(Reference(Encoding.UTF8.GetBytes(key)), PartitionKeySlots.GetSlot(key));
            Assert.Equal(PartitionKeySlots.GetSlot(key), PartitionKeySlots.GetSlotOfUtf8(Encoding.UTF8.GetBytes(key)));
        }
    }

    /// <summary>Redis's keyHashSlot, written from its description, bit by bit (no table).</summary>
    private static int Reference(byte[] key)
    {
        var start = Array.IndexOf(key, (byte)'{');
        if (start >= 0)
        {
            var end = Array.IndexOf(key, (byte)'}', start + 1);
            if (end > start + 1)
            {
                key = key[(start + 1)..end];
            }
        }

        var crc = 0;
        foreach (var b in key)
        {
            crc ^= b << 8;
            for (var bit = 0; bit < 8; bit++)
            {
                crc = (crc & 0x8000) != 0 ? ((crc << 1) ^ 0x1021) & 0xFFFF : (crc << 1) & 0xFFFF;
            }
        }

        return crc % 16384;
    }
}
