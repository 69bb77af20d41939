namespace PartitionedHosting;

/// <summary>
/// The nodes that share the key map (<c>PartitionedHosting:Cluster</c>): each owns the slots that
/// <see cref="PartitionCluster"/> gives it, and answers a keyed request for a slot it does not own with
/// <c>421 Misdirected Request</c> naming the owner.
/// </summary>
public sealed class PartitionClusterOptions
{
    /// <summary>Every node, by name (its base address, as the proxy's destinations have it); the same list, in any process.</summary>
    public IList<string> Nodes { get; } = [];

    /// <summary>This node: its index in <see cref="Nodes"/>, or its name.</summary>
    public string? Self { get; set; }
}
