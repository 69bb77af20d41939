namespace PartitionedHosting.Partitions;

/// <summary>
/// The randomness of the partition runtime (recycle jitter, the power-of-two-choices draw): a service, so that tests
/// can make it predictable, as YARP does.
/// </summary>
internal interface IRandomFactory
{
    Random Create();
}
