namespace PartitionedHosting.Partitions;

/// <summary>
/// The randomness of the partition runtime (recycle jitter, the power-of-two-choices draw): a service, so that tests
/// can make it predictable, as YARP does.
/// </summary>
internal interface IRandomFactory
{
    Random Create();
}

/// <summary>The shared, thread-safe <see cref="Random.Shared"/>.</summary>
internal sealed class SharedRandomFactory : IRandomFactory
{
    public Random Create() => Random.Shared;
}
