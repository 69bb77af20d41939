namespace PartitionedHosting.Distribution;

internal sealed class PowerOfTwoChoicesPolicy(Random random) : IConnectionDistributionPolicy
{
    public PowerOfTwoChoicesPolicy()
        : this(Random.Shared)
    {
    }

    public string Name => ConnectionDistributionPolicies.PowerOfTwoChoices;

    public int SelectPartition(ConnectionDistributionContext context)
    {
        var partitions = context.Partitions;
        if (partitions.Count == 1)
        {
            return 0;
        }

        // Draw two distinct partitions: the second from the other count - 1, shifted past the first.
        var first = random.Next(partitions.Count);
        var second = random.Next(partitions.Count - 1);
        if (second >= first)
        {
            second++;
        }

        return partitions[second].ActiveConnections < partitions[first].ActiveConnections ? second : first;
    }
}
