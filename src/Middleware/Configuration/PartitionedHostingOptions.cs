using Microsoft.Extensions.Options;
using PartitionedHosting.Configuration;

namespace PartitionedHosting;

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
    [SettingRange(1, PartitionedHostingDefaults.MaxPartitionCount)]
    public int PartitionCount { get; set; } = PartitionedHostingDefaults.PartitionCount;

    /// <summary>
    /// The execution mode of every partition that does not override it in <see cref="Partitions"/>.
    /// </summary>
    /// <remarks>Defaults to <see cref="ExecutionMode.FreeThreaded"/>.</remarks>
    [DefinedValue]
    public ExecutionMode Mode { get; set; } = PartitionedHostingDefaults.Mode;

    /// <summary>
    /// The name of the policy that assigns a new connection to a partition: <c>RoundRobin</c>,
    /// <c>LeastConnections</c>, <c>PowerOfTwoChoices</c>, <c>ClientAddressHash</c>, or the name of a registered
    /// <see cref="IConnectionDistributionPolicy"/>. Case-insensitive.
    /// </summary>
    /// <remarks>Defaults to <c>RoundRobin</c>.</remarks>
    public string ConnectionDistribution { get; set; } = PartitionedHostingDefaults.ConnectionDistribution;

    /// <summary>
    /// The transport of the partitioned server: <see cref="PartitionTransport.Kestrel"/> (Kestrel's socket transport;
    /// each request hops to its partition) or <see cref="PartitionTransport.Partitioned"/> (connections whose socket
    /// I/O and parsing run on their partition's thread: no hop per request).
    /// </summary>
    /// <remarks>Defaults to <see cref="PartitionTransport.Kestrel"/>. Ignored under other servers (TestServer).</remarks>
    [DefinedValue]
    public PartitionTransport Transport { get; set; } = PartitionedHostingDefaults.Transport;

    /// <summary>
    /// What runs the code of a <see cref="ExecutionMode.SingleThreaded"/> partition that becomes ready while the
    /// partition's thread sleeps (an <c>await</c> of a database call that completed): the partition's thread
    /// (<see cref="IdleResume.Thread"/>) or, standing in for it under the partition's turn, the thread
    /// pool (<see cref="IdleResume.ThreadPool"/>).
    /// </summary>
    /// <remarks>
    /// Defaults to <see cref="IdleResume.Thread"/>. Either way the partition's code runs one synchronous
    /// segment at a time with the partition's context and services; <see cref="IdleResume.ThreadPool"/>
    /// saves a wake-up of the thread per resumed await and gives up running on one thread only.
    /// </remarks>
    [DefinedValue]
    public IdleResume IdleResume { get; set; } = PartitionedHostingDefaults.IdleResume;

    /// <summary>
    /// The name of the policy that maps a partition key to its owner partition: <c>JumpHash</c>, <c>Rendezvous</c>,
    /// or the name of a registered <see cref="IPartitionKeyPolicy"/>. Case-insensitive.
    /// </summary>
    /// <remarks>Defaults to <c>JumpHash</c>.</remarks>
    public string KeyPolicy { get; set; } = PartitionedHostingDefaults.KeyPolicy;

    /// <summary>What a request of a keyed endpoint gets when its key is missing or unreadable.</summary>
    /// <remarks>Defaults to <see cref="PartitionKeyFailure.BadRequest"/>.</remarks>
    [DefinedValue]
    public PartitionKeyFailure KeyFailure { get; set; } = PartitionedHostingDefaults.KeyFailure;

    /// <summary>
    /// Partition keys declared for endpoints by route pattern, so that an application can opt in without code
    /// changes; bound from <c>PartitionedHosting:Keys:{n}</c>. A key declared in code wins.
    /// </summary>
    [ValidateEnumeratedItems]
    public IList<PartitionKeyOptions> Keys { get; } = [];

    /// <summary>
    /// How long a key-map change (a resize, a slot moved by hand) may keep the requests of a moving slot waiting: its
    /// in-flight requests' end, the state handoff and the switch to the new owner. Requests still waiting then get 503
    /// with <c>Retry-After</c>; a move whose old requests have not ended by then goes on without them.
    /// </summary>
    /// <remarks>Defaults to 10 seconds.</remarks>
    [PositiveDuration]
    public TimeSpan HandoffTimeout { get; set; } = PartitionedHostingDefaults.HandoffTimeout;

    /// <summary>
    /// Whether request code of a single-threaded partition that runs off the partition's thread, outside its turn
    /// (after <c>ConfigureAwait(false)</c>, in <c>Task.Run</c> or a timer), is logged: a warning once per call site, with
    /// the partition, the request path and the stack. <see langword="null"/> turns it on in the <c>Development</c>
    /// environment only.
    /// </summary>
    /// <remarks>
    /// Defaults to the environment: on in <c>Development</c>, off elsewhere. Off, it costs nothing; on, every request of
    /// a single-threaded partition carries a marker in its execution context, and every move of that context between
    /// threads is checked.
    /// </remarks>
    public bool? DetectEscapes { get; set; }

    /// <summary>How requests are admitted: queue bound, queue wait, concurrency bound (<c>PartitionedHosting:Admission</c>).</summary>
    [ValidateObjectMembers]
    public PartitionAdmissionOptions Admission { get; } = new();

    /// <summary>What is done about stalled and faulting partitions (<c>PartitionedHosting:Watchdog</c>).</summary>
    [ValidateObjectMembers]
    public PartitionWatchdogOptions Watchdog { get; } = new();

    /// <summary>When partitions are recycled (<c>PartitionedHosting:Recycling</c>).</summary>
    [ValidateObjectMembers]
    public PartitionRecyclingOptions Recycling { get; } = new();

    /// <summary>
    /// Per-partition overrides, keyed by partition index (0 to <see cref="PartitionCount"/> - 1); bound from
    /// <c>PartitionedHosting:Partitions:{index}</c>.
    /// </summary>
    public IDictionary<int, PartitionOptions> Partitions { get; } = new Dictionary<int, PartitionOptions>();

    /// <summary>
    /// The cluster this process is a node of, when it runs as one of several behind a proxy; none by default.
    /// </summary>
    public PartitionClusterOptions Cluster { get; } = new();

    /// <summary>Problems found while binding configuration, reported by validation with every other problem.</summary>
    internal List<ConfigurationProblem> BindingProblems { get; } = [];

    internal ExecutionMode GetMode(int partitionId) =>
        Partitions.TryGetValue(partitionId, out var partition) && partition.Mode is { } mode ? mode : Mode;

    internal int? GetMaxConcurrentRequests(int partitionId) =>
        Partitions.TryGetValue(partitionId, out var partition) && partition.MaxConcurrentRequests is { } limit ? limit : Admission.MaxConcurrentRequests;

    internal bool IsDedicated(int partitionId) => Partitions.TryGetValue(partitionId, out var partition) && partition.Dedicated;

    internal IdleResume GetIdleResume(int partitionId) =>
        Partitions.TryGetValue(partitionId, out var partition) && partition.IdleResume is { } resume ? resume : IdleResume;

    internal int GetMaxQueueLength(int partitionId) =>
        Partitions.TryGetValue(partitionId, out var partition) && partition.MaxQueueLength is { } length ? length : Admission.MaxQueueLength;
}
