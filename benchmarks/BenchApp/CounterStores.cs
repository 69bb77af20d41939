using System.Collections.Concurrent;
using System.Runtime.InteropServices;

/// <summary>The in-memory per-key counters of <c>/keyed/{key}</c>: a read-modify-write per request.</summary>
internal interface ICounterStore
{
    /// <summary>Adds one to the key's counter.</summary>
    /// <param name="key">The key.</param>
    /// <returns>The new count.</returns>
    long Increment(string key);
}

/// <summary>Thread-safe, as a plain Kestrel application shares it between its request threads.</summary>
internal sealed class ConcurrentCounterStore : ICounterStore
{
    private readonly ConcurrentDictionary<string, long> _counts = new(StringComparer.Ordinal);

    public long Increment(string key) => _counts.AddOrUpdate(key, 1, static (_, count) => count + 1);
}

/// <summary>
/// Lock-free, for a SingleThreaded partition: only the partition's thread touches it, and key affinity sends every
/// request of a key to the partition that owns it, so each key has one counter in the process.
/// </summary>
internal sealed class PartitionCounterStore : ICounterStore
{
    private readonly Dictionary<string, long> _counts = new(StringComparer.Ordinal);

    public long Increment(string key) => ++CollectionsMarshal.GetValueRefOrAddDefault(_counts, key, out _);
}
