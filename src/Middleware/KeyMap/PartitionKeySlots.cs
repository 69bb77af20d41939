using System.Buffers;
using System.Text;

namespace PartitionedHosting;

/// <summary>
/// Maps a partition key to one of <see cref="Count"/> slots: the key's hash slot exactly as Redis Cluster computes it
/// (CRC-16/XMODEM of the key's UTF-8 bytes, modulo 16384, honouring hash tags). It is a contract: the same key has the
/// same slot in every process, on every machine and in every release, so that every node of a cluster and the proxy
/// in front of it agree on it.
/// </summary>
/// <remarks>
/// <para>
/// Hash tags group keys: when a key contains <c>{</c> followed later by <c>}</c> with at least one character between
/// them, only the characters between the first <c>{</c> and the first <c>}</c> after it are hashed, so
/// <c>{user42}.cart</c> and <c>{user42}.orders</c> share a slot, and so a partition.
/// </para>
/// <para>Slots map to owners through the key map (<see cref="PartitionKeyMap"/>), not through the hash.</para>
/// </remarks>
public static class PartitionKeySlots
{
    /// <summary>The number of slots: 16384, as in Redis Cluster.</summary>
    public const int Count = 16384;

    private const int StackLimit = 256;

    private static readonly ushort[] s_table = BuildTable();

    /// <summary>The slot of <paramref name="key"/>.</summary>
    /// <param name="key">The partition key.</param>
    /// <returns>A slot from 0 to <see cref="Count"/> - 1.</returns>
    public static int GetSlot(ReadOnlySpan<char> key)
    {
        var length = Encoding.UTF8.GetMaxByteCount(key.Length);
        byte[]? rented = null;
        var buffer = length <= StackLimit ? stackalloc byte[StackLimit] : (rented = ArrayPool<byte>.Shared.Rent(length));
        try
        {
            var written = Encoding.UTF8.GetBytes(key, buffer);
            return GetSlotOfUtf8(buffer[..written]);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <summary>The slot of a key given as UTF-8 bytes.</summary>
    /// <param name="utf8Key">The partition key, UTF-8 encoded.</param>
    /// <returns>A slot from 0 to <see cref="Count"/> - 1.</returns>
    public static int GetSlotOfUtf8(ReadOnlySpan<byte> utf8Key)
    {
        var open = utf8Key.IndexOf((byte)'{');
        if (open >= 0)
        {
            var close = utf8Key[(open + 1)..].IndexOf((byte)'}');
            if (close > 0)
            {
                utf8Key = utf8Key.Slice(open + 1, close);
            }
        }

        return Crc16(utf8Key) & (Count - 1);
    }

    /// <summary>CRC-16/XMODEM (polynomial 0x1021, initial value 0, no reflection), as Redis Cluster uses.</summary>
    internal static ushort Crc16(ReadOnlySpan<byte> data)
    {
        var table = s_table;
        ushort crc = 0;
        foreach (var b in data)
        {
            crc = (ushort)((crc << 8) ^ table[((crc >> 8) ^ b) & 0xFF]);
        }

        return crc;
    }

    private static ushort[] BuildTable()
    {
        var table = new ushort[256];
        for (var i = 0; i < table.Length; i++)
        {
            var crc = (ushort)(i << 8);
            for (var bit = 0; bit < 8; bit++)
            {
                crc = (crc & 0x8000) != 0 ? (ushort)((crc << 1) ^ 0x1021) : (ushort)(crc << 1);
            }

            table[i] = crc;
        }

        return table;
    }
}
