using System.Runtime.InteropServices;
using PartitionedHosting;

namespace WebApi;

/// <summary>
/// A keyed, partition-local store of counters, written without locks: the counter endpoints declare their key, so
/// every request for a key runs on the key's owner partition, whose single thread is the only one that ever touches
/// this instance. When slots change owner (a resize, a slot moved by hand), their counters move with them.
/// </summary>
public sealed class CounterStore : IPartitionStateHandoff
{
    private readonly Dictionary<string, long> _counters = new(StringComparer.Ordinal);

    /// <summary>Adds one to the counter of <paramref name="key"/> and returns its new value.</summary>
    public long Increment(string key) => ++CollectionsMarshal.GetValueRefOrAddDefault(_counters, key, out _);

    /// <summary>The value of the counter of <paramref name="key"/>; 0 when it was never incremented.</summary>
    public long Get(string key) => _counters.GetValueOrDefault(key);

    /// <summary>The number of counters of this partition and the sum of their values.</summary>
    public PartitionCounters Snapshot(int partition) => new(partition, _counters.Count, _counters.Values.Sum());

    /// <summary>Removes the counters of the moving slots and returns them (on the old owner's thread).</summary>
    public ValueTask<object?> ExportAsync(IPartitionContext partition, IReadOnlySet<int> slots, CancellationToken cancellationToken)
    {
        var moving = new List<KeyValuePair<string, long>>();
        foreach (var counter in _counters)
        {
            if (slots.Contains(PartitionKeySlots.GetSlot(counter.Key)))
            {
                moving.Add(counter);
            }
        }

        foreach (var counter in moving)
        {
            _counters.Remove(counter.Key);
        }

        return ValueTask.FromResult<object?>(moving);
    }

    /// <summary>Adds the counters exported by the old owner (on the new owner's thread).</summary>
    public ValueTask ImportAsync(IPartitionContext partition, IReadOnlySet<int> slots, object? state, CancellationToken cancellationToken)
    {
        foreach (var (key, value) in (List<KeyValuePair<string, long>>)state!)
        {
            CollectionsMarshal.GetValueRefOrAddDefault(_counters, key, out _) += value;
        }

        return ValueTask.CompletedTask;
    }
}

/// <summary>A counter, as the counter endpoints answer it.</summary>
/// <param name="Key">The counter's key.</param>
/// <param name="Value">Its value.</param>
/// <param name="Partition">The partition that owns the key and served the request.</param>
/// <param name="Node">The node that served it, when the application runs as one node of several (<c>PartitionedHosting:Cluster:Self</c>).</param>
public sealed record Counter(string Key, long Value, int Partition, string? Node = null);

/// <summary>The counters of one partition.</summary>
/// <param name="Partition">The partition.</param>
/// <param name="Keys">How many counters it holds.</param>
/// <param name="Total">The sum of their values.</param>
public sealed record PartitionCounters(int Partition, int Keys, long Total);

/// <summary>The counters of every partition, gathered by a fan-out.</summary>
/// <param name="Total">The sum of every counter.</param>
/// <param name="Partitions">Each partition's counters.</param>
public sealed record CounterTotals(long Total, IReadOnlyList<PartitionCounters> Partitions);
