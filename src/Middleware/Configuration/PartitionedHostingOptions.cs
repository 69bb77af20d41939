namespace PartitionedHosting.Configuration;

/// <summary>
/// Options of partitioned hosting, bound from the <c>PartitionedHosting</c> configuration section.
/// </summary>
/// <remarks>
/// The options are bound lazily and validated once at startup: an invalid value stops the host before it serves,
/// with one message that names every offending key and its allowed values.
/// </remarks>
public sealed class PartitionedHostingOptions
{
    /// <summary>
    /// The number of partitions, from 1 to 1024.
    /// </summary>
    /// <remarks>Defaults to <see cref="Environment.ProcessorCount"/>.</remarks>
    public int PartitionCount { get; set; } = PartitionedHostingDefaults.PartitionCount;

    /// <summary>
    /// The execution mode of every partition that does not override it in <see cref="Partitions"/>.
    /// </summary>
    /// <remarks>Defaults to <see cref="ExecutionMode.FreeThreaded"/>.</remarks>
    public ExecutionMode Mode { get; set; } = PartitionedHostingDefaults.Mode;

    /// <summary>
    /// The name of the policy that assigns a new connection to a partition: <c>RoundRobin</c>,
    /// <c>LeastConnections</c>, <c>PowerOfTwoChoices</c>, <c>ClientAddressHash</c>, or the name of a registered
    /// <see cref="Distribution.IConnectionDistributionPolicy"/>. Case-insensitive.
    /// </summary>
    /// <remarks>Defaults to <c>RoundRobin</c>.</remarks>
    public string ConnectionDistribution { get; set; } = PartitionedHostingDefaults.ConnectionDistribution;

    /// <summary>
    /// The number of requests that may wait for a <see cref="ExecutionMode.SingleThreaded"/> partition's thread
    /// before the partition answers <c>503 Service Unavailable</c> with <c>Retry-After</c>, from 1 up.
    /// </summary>
    /// <remarks>
    /// Defaults to 1024. Only requests that have not started count: a request that awaits I/O does not hold a place.
    /// <see cref="ExecutionMode.FreeThreaded"/> partitions start every request at once on the thread pool, so nothing
    /// waits for them. Time spent waiting counts against the client's request timeouts.
    /// </remarks>
    public int MaxQueueLength { get; set; } = PartitionedHostingDefaults.MaxQueueLength;

    /// <summary>
    /// Per-partition overrides, keyed by partition index (0 to <see cref="PartitionCount"/> - 1); bound from
    /// <c>PartitionedHosting:Partitions:{index}</c>.
    /// </summary>
    public IDictionary<int, PartitionOptions> Partitions { get; } = new Dictionary<int, PartitionOptions>();

    /// <summary>Problems found while binding configuration, reported by validation with every other problem.</summary>
    internal List<string> BindingErrors { get; } = [];

    internal ExecutionMode GetMode(int partitionId) =>
        Partitions.TryGetValue(partitionId, out var partition) && partition.Mode is { } mode ? mode : Mode;

    internal int GetMaxQueueLength(int partitionId) =>
        Partitions.TryGetValue(partitionId, out var partition) && partition.MaxQueueLength is { } length ? length : MaxQueueLength;
}
