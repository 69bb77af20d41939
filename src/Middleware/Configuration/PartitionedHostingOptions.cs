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
    /// The most requests a partition runs at once, from 1 up; past it, requests wait (they count against
    /// <see cref="MaxQueueLength"/> and <see cref="MaxQueueWait"/>). <see langword="null"/> for no bound.
    /// </summary>
    /// <remarks>
    /// Defaults to no bound. Meant for <see cref="ExecutionMode.FreeThreaded"/> partitions, whose requests otherwise all
    /// run in parallel; on a <see cref="ExecutionMode.SingleThreaded"/> one it bounds the requests interleaved at awaits.
    /// Enforced with a <c>System.Threading.RateLimiting.ConcurrencyLimiter</c> per partition.
    /// </remarks>
    public int? MaxConcurrentRequests { get; set; }

    /// <summary>
    /// The longest a request may wait for its partition (in the queue of a single-threaded partition, or for a
    /// <see cref="MaxConcurrentRequests"/> permit) before it is answered <c>503</c> with <c>Retry-After</c>.
    /// <see langword="null"/> for no limit.
    /// </summary>
    /// <remarks>Defaults to no limit: a request waits as long as the server's own timeouts let it.</remarks>
    public TimeSpan? MaxQueueWait { get; set; }

    /// <summary>
    /// The name of the policy that maps a partition key to its owner partition: <c>JumpHash</c>, <c>Rendezvous</c>,
    /// or the name of a registered <see cref="Affinity.IPartitionKeyPolicy"/>. Case-insensitive.
    /// </summary>
    /// <remarks>Defaults to <c>JumpHash</c>.</remarks>
    public string KeyPolicy { get; set; } = PartitionedHostingDefaults.KeyPolicy;

    /// <summary>What a request of a keyed endpoint gets when its key is missing or unreadable.</summary>
    /// <remarks>Defaults to <see cref="Affinity.PartitionKeyFailure.BadRequest"/>.</remarks>
    public Affinity.PartitionKeyFailure KeyFailure { get; set; } = PartitionedHostingDefaults.KeyFailure;

    /// <summary>
    /// Partition keys declared for endpoints by route pattern, so that an application can opt in without code
    /// changes; bound from <c>PartitionedHosting:Keys:{n}</c>. A key declared in code wins.
    /// </summary>
    public IList<PartitionKeyOptions> Keys { get; } = [];

    /// <summary>
    /// Per-partition overrides, keyed by partition index (0 to <see cref="PartitionCount"/> - 1); bound from
    /// <c>PartitionedHosting:Partitions:{index}</c>.
    /// </summary>
    public IDictionary<int, PartitionOptions> Partitions { get; } = new Dictionary<int, PartitionOptions>();

    /// <summary>Problems found while binding configuration, reported by validation with every other problem.</summary>
    internal List<string> BindingErrors { get; } = [];

    internal ExecutionMode GetMode(int partitionId) =>
        Partitions.TryGetValue(partitionId, out var partition) && partition.Mode is { } mode ? mode : Mode;

    internal int? GetMaxConcurrentRequests(int partitionId) =>
        Partitions.TryGetValue(partitionId, out var partition) && partition.MaxConcurrentRequests is { } limit ? limit : MaxConcurrentRequests;

    internal int GetMaxQueueLength(int partitionId) =>
        Partitions.TryGetValue(partitionId, out var partition) && partition.MaxQueueLength is { } length ? length : MaxQueueLength;
}
