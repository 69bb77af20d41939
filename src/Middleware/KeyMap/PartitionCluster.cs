using System.Buffers.Binary;
using System.Text;
using PartitionedHosting.Distribution;

namespace PartitionedHosting;

/// <summary>
/// The cluster level of the key map: which node owns each slot, for a list of nodes given by configuration
/// (<c>PartitionedHosting:Cluster:Nodes</c>). Every node and the proxy in front of them compute it from the same list,
/// so they agree without talking to each other; inside a node, its own key map then picks the partition.
/// </summary>
/// <remarks>
/// A slot goes to the node with the highest rendezvous weight (FNV-1a 64 with MurmurHash3's finalizer over the slot
/// and the node's name, as UTF-8): when a node joins, it takes about 1/n of the slots, from every other node; when one
/// leaves, only its slots move, spread over the others. A node is named by its string in the list (its address),
/// so renaming a node moves its slots.
/// </remarks>
public sealed class PartitionCluster
{
    private readonly ushort[] _owners;

    /// <summary>Lays out the slots over <paramref name="nodes"/>.</summary>
    /// <param name="nodes">The nodes, by name (their base addresses, for example); at least one, no duplicates.</param>
    /// <exception cref="ArgumentException">No node, an empty name, a duplicate, or more than 65535 nodes.</exception>
    public PartitionCluster(IReadOnlyList<string> nodes)
    {
        ArgumentNullException.ThrowIfNull(nodes);
        if (nodes.Count is 0 or > ushort.MaxValue)
        {
            throw new ArgumentException("A cluster has from 1 to 65535 nodes.", nameof(nodes));
        }

        if (nodes.Any(string.IsNullOrWhiteSpace) || nodes.Select(Normalize).Distinct(StringComparer.Ordinal).Count() != nodes.Count)
        {
            throw new ArgumentException("Every node needs a name of its own.", nameof(nodes));
        }

        Nodes = [.. nodes];
        var hashes = nodes.Select(n => StableHash.Fnv1a64(Encoding.UTF8.GetBytes(Normalize(n)))).ToArray();
        _owners = new ushort[PartitionKeySlots.Count];
        Span<byte> pair = stackalloc byte[16];
        for (var slot = 0; slot < _owners.Length; slot++)
        {
            var best = 0;
            var bestWeight = 0UL;
            for (var node = 0; node < hashes.Length; node++)
            {
                BinaryPrimitives.WriteUInt64LittleEndian(pair, (ulong)slot);
                BinaryPrimitives.WriteUInt64LittleEndian(pair[8..], hashes[node]);
                var weight = StableHash.Fnv1a64(pair);
                if (node == 0 || weight > bestWeight)
                {
                    best = node;
                    bestWeight = weight;
                }
            }

            _owners[slot] = (ushort)best;
        }
    }

    /// <summary>The nodes, in configuration order.</summary>
    public IReadOnlyList<string> Nodes { get; }

    /// <summary>The index of the node that owns <paramref name="slot"/>.</summary>
    /// <param name="slot">A slot, from 0 to 16383.</param>
    /// <returns>An index into <see cref="Nodes"/>.</returns>
    public int GetNode(int slot)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(slot);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(slot, PartitionKeySlots.Count);
        return _owners[slot];
    }

    /// <summary>The node that owns <paramref name="key"/>.</summary>
    /// <param name="key">A partition key.</param>
    /// <returns>The node's name, from <see cref="Nodes"/>.</returns>
    public string GetNodeForKey(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return Nodes[_owners[PartitionKeySlots.GetSlot(key)]];
    }

    /// <summary>How many slots <paramref name="node"/> owns.</summary>
    /// <param name="node">An index into <see cref="Nodes"/>.</param>
    /// <returns>The number of its slots.</returns>
    public int CountSlots(int node) => _owners.Count(o => o == node);

    /// <summary>
    /// The index of <paramref name="node"/> in <see cref="Nodes"/> (compared as addresses are: case-insensitive,
    /// without a trailing slash); -1 when it is not one of them.
    /// </summary>
    /// <param name="node">A node's name or address.</param>
    /// <returns>Its index, or -1.</returns>
    public int IndexOf(string node) => IndexOf(Nodes, node);

    /// <summary>The index of <paramref name="node"/> in <paramref name="nodes"/>, compared as addresses are; -1 when absent.</summary>
    internal static int IndexOf(IEnumerable<string> nodes, string node)
    {
        ArgumentNullException.ThrowIfNull(node);
        var normalized = Normalize(node);
        var index = 0;
        foreach (var candidate in nodes)
        {
            if (Normalize(candidate) == normalized)
            {
                return index;
            }

            index++;
        }

        return -1;
    }

    /// <summary>A node's name as compared: trimmed, without a trailing slash, lower case.</summary>
    internal static string Normalize(string node) => node.Trim().TrimEnd('/').ToLowerInvariant();
}
