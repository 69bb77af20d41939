namespace PartitionedHosting;

/// <summary>
/// Endpoint metadata: the endpoint runs on one given partition, whichever partition its connection belongs to. Meant
/// for a partition configured as <c>Dedicated</c> (see <c>PartitionedHosting:Partitions:{index}:Dedicated</c>), such as
/// a <see cref="ExecutionMode.FreeThreaded"/> partition with bounded concurrency that takes the endpoints that block
/// their thread, so that they neither stop a <see cref="ExecutionMode.SingleThreaded"/> partition nor starve the
/// thread pool beyond that bound.
/// </summary>
/// <remarks>
/// The request's middleware runs on its connection's partition; the endpoint (and its response callbacks) moves to the
/// given partition, with that partition's services and admission (its queue and concurrency bounds), and the request
/// comes back for the rest of the pipeline, as a keyed endpoint moves to its key's owner. A partition index outside
/// <c>0</c> to <c>PartitionCount - 1</c> stops the host at startup.
/// </remarks>
/// <param name="partition">The index of the partition the endpoint runs on.</param>
[AttributeUsage(AttributeTargets.Class | AttributeTargets.Method, AllowMultiple = false, Inherited = true)]
public sealed class RunOnPartitionAttribute(int partition) : Attribute
{
    /// <summary>The index of the partition the endpoint runs on.</summary>
    public int Partition => partition;
}
