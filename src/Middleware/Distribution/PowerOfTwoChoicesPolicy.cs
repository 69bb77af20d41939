using PartitionedHosting.Partitions;

namespace PartitionedHosting.Distribution;

internal sealed class PowerOfTwoChoicesPolicy(IRandomFactory randomFactory) : IConnectionDistributionPolicy
{
    private readonly Random _random = randomFactory.Create();

    public PowerOfTwoChoicesPolicy()
        : this(new SharedRandomFactory())
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
        var first = _random.Next(partitions.Count);
        var second = _random.Next(partitions.Count - 1);
        if (second >= first)
        {
            second++;
        }

        return partitions[second].ActiveConnections < partitions[first].ActiveConnections ? second : first;
    }
}
