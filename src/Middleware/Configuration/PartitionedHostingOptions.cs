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
    public int PartitionCount { get; set; } = PartitionedHostingDefaults.PartitionCount;

    /// <summary>
    /// The execution mode of every partition that does not override it in <see cref="Partitions"/>.
    /// </summary>
    /// <remarks>Defaults to <see cref="ExecutionMode.FreeThreaded"/>.</remarks>
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
    public IdleResume IdleResume { get; set; } = PartitionedHostingDefaults.IdleResume;

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
    /// or the name of a registered <see cref="IPartitionKeyPolicy"/>. Case-insensitive.
    /// </summary>
    /// <remarks>Defaults to <c>JumpHash</c>.</remarks>
    public string KeyPolicy { get; set; } = PartitionedHostingDefaults.KeyPolicy;

    /// <summary>What a request of a keyed endpoint gets when its key is missing or unreadable.</summary>
    /// <remarks>Defaults to <see cref="PartitionKeyFailure.BadRequest"/>.</remarks>
    public PartitionKeyFailure KeyFailure { get; set; } = PartitionedHostingDefaults.KeyFailure;

    /// <summary>
    /// Partition keys declared for endpoints by route pattern, so that an application can opt in without code
    /// changes; bound from <c>PartitionedHosting:Keys:{n}</c>. A key declared in code wins.
    /// </summary>
    public IList<PartitionKeyOptions> Keys { get; } = [];

    /// <summary>
    /// How long one synchronous segment of a single-threaded partition may run before the partition is marked
    /// stalled: logged with the request and the duration, new connections and unkeyed requests go to other
    /// partitions, and requests that must run on it (keyed) get 503 with <c>Retry-After</c>, until the segment ends.
    /// </summary>
    /// <remarks>Defaults to 2 seconds. The watchdog looks four times per threshold (at most once a second).</remarks>
    public TimeSpan StallThreshold { get; set; } = PartitionedHostingDefaults.StallThreshold;

    /// <summary>
    /// How long a partition may stay stalled before it is presumed deadlocked (sync-over-async on its own thread) and
    /// replaced; <see langword="null"/> never replaces a stalled partition.
    /// </summary>
    /// <remarks>Defaults to never. The replaced thread cannot be stopped: its requests are abandoned and logged.</remarks>
    public TimeSpan? ReplaceStalledAfter { get; set; }

    /// <summary>Recycle a partition after it has admitted this many requests (with jitter); <see langword="null"/> never.</summary>
    /// <remarks>Defaults to never.</remarks>
    public int? RecycleAfterRequests { get; set; }

    /// <summary>Recycle a partition after it has lived this long (with jitter); <see langword="null"/> never.</summary>
    /// <remarks>Defaults to never.</remarks>
    public TimeSpan? RecycleAfter { get; set; }

    /// <summary>
    /// The jitter applied to <see cref="RecycleAfterRequests"/> and <see cref="RecycleAfter"/>, as a fraction: each
    /// instance draws its limit uniformly within ± this share, so partitions do not all recycle at once.
    /// </summary>
    /// <remarks>Defaults to 0.1 (± 10 %). From 0 to 0.5.</remarks>
    public double RecycleJitter { get; set; } = PartitionedHostingDefaults.RecycleJitter;

    /// <summary>How many partitions may recycle at once; further recycles wait their turn.</summary>
    /// <remarks>Defaults to 1.</remarks>
    public int MaxConcurrentRecycles { get; set; } = PartitionedHostingDefaults.MaxConcurrentRecycles;

    /// <summary>
    /// How long a recycled instance may take to finish its in-flight requests before it is abandoned (logged, not
    /// disposed).
    /// </summary>
    /// <remarks>Defaults to 30 seconds.</remarks>
    public TimeSpan RecycleDrainTimeout { get; set; } = PartitionedHostingDefaults.RecycleDrainTimeout;

    /// <summary>
    /// How long a key-map change (a resize, a slot moved by hand) may keep the requests of a moving slot waiting: its
    /// in-flight requests' end, the state handoff and the switch to the new owner. Requests still waiting then get 503
    /// with <c>Retry-After</c>; a move whose old requests have not ended by then goes on without them.
    /// </summary>
    /// <remarks>Defaults to 10 seconds.</remarks>
    public TimeSpan HandoffTimeout { get; set; } = PartitionedHostingDefaults.HandoffTimeout;

    /// <summary>
    /// How many faults (exceptions escaping work posted to a partition or its lifecycle hooks) within
    /// <see cref="CrashLoopWindow"/> stop the replacing: the partition is then marked unhealthy.
    /// </summary>
    /// <remarks>Defaults to 3.</remarks>
    public int CrashLoopMaxFailures { get; set; } = PartitionedHostingDefaults.CrashLoopMaxFailures;

    /// <summary>The window of <see cref="CrashLoopMaxFailures"/>.</summary>
    /// <remarks>Defaults to 1 minute.</remarks>
    public TimeSpan CrashLoopWindow { get; set; } = PartitionedHostingDefaults.CrashLoopWindow;

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
    internal List<string> BindingErrors { get; } = [];

    internal ExecutionMode GetMode(int partitionId) =>
        Partitions.TryGetValue(partitionId, out var partition) && partition.Mode is { } mode ? mode : Mode;

    internal int? GetMaxConcurrentRequests(int partitionId) =>
        Partitions.TryGetValue(partitionId, out var partition) && partition.MaxConcurrentRequests is { } limit ? limit : MaxConcurrentRequests;

    internal bool IsDedicated(int partitionId) => Partitions.TryGetValue(partitionId, out var partition) && partition.Dedicated;

    internal IdleResume GetIdleResume(int partitionId) =>
        Partitions.TryGetValue(partitionId, out var partition) && partition.IdleResume is { } resume ? resume : IdleResume;

    internal int GetMaxQueueLength(int partitionId) =>
        Partitions.TryGetValue(partitionId, out var partition) && partition.MaxQueueLength is { } length ? length : MaxQueueLength;
}
