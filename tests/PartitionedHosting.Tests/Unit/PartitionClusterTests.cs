namespace PartitionedHosting.Tests.Unit;

/// <summary>The cluster level of the key map: a pure function of the node list, the same in every process.</summary>
public sealed class PartitionClusterTests
{
    private static readonly string[] s_nodes = ["http://127.0.0.1:5101", "http://127.0.0.1:5102", "http://127.0.0.1:5103"];

    [Fact]
    public void Owners_ArePinned_SoThatEveryNodeAndTheProxyAgreeAcrossReleases()
    {
        // From an independent Python implementation of the same steps (rendezvous over FNV-1a 64 + fmix64 of the
        // slot and the node name's hash, little-endian).
        var cluster = new PartitionCluster(s_nodes);
        Assert.Equal([2, 2, 2, 0], new[] { 0, 1, 12182, 16383 }.Select(cluster.GetNode));
        Assert.Equal(s_nodes[2], cluster.GetNodeForKey("foo"));
    }

    [Fact]
    public void Slots_SpreadEvenly_AndChangingTheNodeListMovesOnlyTheSlotsThatChangeNode()
    {
        var three = new PartitionCluster(s_nodes);
        Assert.All(Enumerable.Range(0, 3), n => Assert.InRange(three.CountSlots(n), PartitionKeySlots.Count / 3 * 0.95, PartitionKeySlots.Count / 3 * 1.05));

        // A node leaves (the middle one): only its slots move.
        var two = new PartitionCluster([s_nodes[0], s_nodes[2]]);
        for (var slot = 0; slot < PartitionKeySlots.Count; slot++)
        {
            if (three.Nodes[three.GetNode(slot)] != s_nodes[1])
            {
                Assert.Equal(three.Nodes[three.GetNode(slot)], two.Nodes[two.GetNode(slot)]);
            }
        }

        // A node joins: it takes about a quarter, and nothing else moves.
        var four = new PartitionCluster([.. s_nodes, "http://127.0.0.1:5104"]);
        var moved = Enumerable.Range(0, PartitionKeySlots.Count).Count(s => four.Nodes[four.GetNode(s)] != three.Nodes[three.GetNode(s)]);
        Assert.Equal(four.CountSlots(3), moved);
        Assert.InRange(moved, PartitionKeySlots.Count / 4 * 0.9, PartitionKeySlots.Count / 4 * 1.1);
    }

    [Fact]
    public void NodeNames_CompareAsAddresses_AndMustBeDistinct()
    {
        var cluster = new PartitionCluster(s_nodes);
        Assert.Equal(1, cluster.IndexOf("HTTP://127.0.0.1:5102/"));
        Assert.Equal(-1, cluster.IndexOf("http://127.0.0.1:5109"));
        Assert.Equal(cluster.GetNode(7), new PartitionCluster([.. s_nodes.Select(n => n + "/")]).GetNode(7));
        Assert.Throws<ArgumentException>(() => new PartitionCluster([]));
        Assert.Throws<ArgumentException>(() => new PartitionCluster(["a", "A"]));
    }
}
