namespace PartitionedHosting.Distribution;

/// <summary>
/// Hashes that stay the same across processes and restarts (unlike <see cref="string.GetHashCode()"/>), and jump
/// consistent hashing (Lamping and Veach, 2014), which spreads keys evenly and moves only 1/n of them when the number
/// of buckets grows to n.
/// </summary>
internal static class StableHash
{
    private const ulong FnvOffset = 14695981039346656037UL;
    private const ulong FnvPrime = 1099511628211UL;

    public static ulong Fnv1a64(ReadOnlySpan<byte> data)
    {
        var hash = FnvOffset;
        foreach (var b in data)
        {
            hash = (hash ^ b) * FnvPrime;
        }

        // FNV's low bits mix poorly for short inputs; a final avalanche (from MurmurHash3's fmix64) evens them out.
        hash ^= hash >> 33;
        hash *= 0xff51afd7ed558ccdUL;
        hash ^= hash >> 33;
        hash *= 0xc4ceb9fe1a85ec53UL;
        hash ^= hash >> 33;
        return hash;
    }

    public static int JumpConsistentHash(ulong key, int buckets)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(buckets, 1);

        long b = -1, j = 0;
        while (j < buckets)
        {
            b = j;
            key = (key * 2862933555777941757UL) + 1;
            j = (long)((b + 1) * ((double)(1L << 31) / ((key >> 33) + 1)));
        }

        return (int)b;
    }
}
