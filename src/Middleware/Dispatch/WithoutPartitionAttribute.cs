namespace PartitionedHosting;

/// <summary>
/// Endpoint metadata: the endpoint's requests run outside every partition, on the thread pool, with the application's
/// services only; they never wait behind a partition, even a stalled or full one. For health checks, diagnostics and
/// other endpoints that report on the partitions rather than run in them.
/// </summary>
/// <remarks>
/// The partitioning middleware decides before routing: a request runs outside the partitions when its path and method
/// match the route pattern of an endpoint with this metadata (see <c>WithoutPartition()</c>). Such an endpoint must not
/// use partition-local services.
/// </remarks>
[AttributeUsage(AttributeTargets.Class | AttributeTargets.Method, AllowMultiple = false, Inherited = true)]
public sealed class WithoutPartitionAttribute : Attribute
{
}
