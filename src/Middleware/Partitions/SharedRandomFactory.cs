namespace PartitionedHosting.Partitions;

/// <summary>The shared, thread-safe <see cref="Random.Shared"/>.</summary>
internal sealed class SharedRandomFactory : IRandomFactory
{
    public Random Create() => Random.Shared;
}
