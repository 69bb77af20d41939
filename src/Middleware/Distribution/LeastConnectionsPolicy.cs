namespace PartitionedHosting.Distribution;

internal sealed class LeastConnectionsPolicy : IConnectionDistributionPolicy
{
    public string Name => ConnectionDistributionPolicies.LeastConnections;

    public int SelectPartition(ConnectionDistributionContext context)
    {
        var partitions = context.Partitions;
        var best = 0;
        var fewest = partitions[0].ActiveConnections;
        for (var i = 1; i < partitions.Count; i++)
        {
            var connections = partitions[i].ActiveConnections;
            if (connections < fewest)
            {
                best = i;
                fewest = connections;
            }
        }

        return best;
    }
}
