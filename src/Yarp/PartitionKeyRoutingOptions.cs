namespace PartitionedHosting.Yarp;

/// <summary>
/// What the proxy needs of the nodes' configuration, bound from the same <c>PartitionedHosting</c> section: the key
/// rules (<c>Keys</c>) and the cluster's nodes (<c>Cluster:Nodes</c>). The other settings of the section are the
/// nodes' own and are ignored here.
/// </summary>
public sealed class PartitionKeyRoutingOptions
{
    /// <summary>The key rules, as the nodes have them.</summary>
    public IList<PartitionKeyOptions> Keys { get; } = [];

    /// <summary>The cluster, as the nodes have it (<c>Self</c> is ignored).</summary>
    public PartitionClusterOptions Cluster { get; } = new();
}
