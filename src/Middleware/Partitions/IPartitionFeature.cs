namespace PartitionedHosting;

/// <summary>
/// The partition that runs a request, on <c>HttpContext.Features</c>. On a connection accepted by the partitioned
/// server it is also a connection feature: every request of the connection runs on that partition.
/// </summary>
public interface IPartitionFeature
{
    /// <summary>The partition.</summary>
    IPartitionContext Partition { get; }
}
