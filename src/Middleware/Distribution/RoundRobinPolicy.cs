namespace PartitionedHosting.Distribution;

internal sealed class RoundRobinPolicy : IConnectionDistributionPolicy
{
    private uint _next = uint.MaxValue;

    public string Name => ConnectionDistributionPolicies.RoundRobin;

    public int SelectPartition(ConnectionDistributionContext context) =>
        (int)(Interlocked.Increment(ref _next) % (uint)context.Partitions.Count);
}
