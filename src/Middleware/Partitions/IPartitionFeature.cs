namespace PartitionedHosting;

/// <summary>
/// The partition that runs a request, on <c>HttpContext.Features</c>. On a connection accepted by the partitioned
/// server it is also a connection feature, which names the partition the connection was assigned to (its requests run
/// there unless their key is owned elsewhere) and, while a request of the connection runs there, the instance serving it.
/// </summary>
/// <remarks>
/// Read <see cref="Partition"/> while the request runs: the feature object itself may be the connection's, which names
/// the instance serving the connection's next request once this one has ended.
/// </remarks>
public interface IPartitionFeature
{
    /// <summary>The partition.</summary>
    IPartitionContext Partition { get; }
}
