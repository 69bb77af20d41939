using PartitionedHosting.Configuration;

namespace PartitionedHosting;

/// <summary>
/// How requests are admitted to a partition (<c>PartitionedHosting:Admission</c>): how many may wait, for how long,
/// and how many may run at once. A partition overrides <see cref="MaxQueueLength"/> and
/// <see cref="MaxConcurrentRequests"/> in <see cref="PartitionedHostingOptions.Partitions"/>.
/// </summary>
public sealed class PartitionAdmissionOptions
{
    /// <summary>
    /// The number of requests that may wait for a <see cref="ExecutionMode.SingleThreaded"/> partition's thread
    /// before the partition answers <c>503 Service Unavailable</c> with <c>Retry-After</c>, from 1 up.
    /// </summary>
    /// <remarks>
    /// Defaults to 1024. Only requests that have not started count: a request that awaits I/O does not hold a place.
    /// <see cref="ExecutionMode.FreeThreaded"/> partitions start every request at once on the thread pool, so nothing
    /// waits for them. Time spent waiting counts against the client's request timeouts.
    /// </remarks>
    [SettingRange(1, int.MaxValue)]
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
    [SettingRange(1, int.MaxValue)]
    public int? MaxConcurrentRequests { get; set; }

    /// <summary>
    /// The longest a request may wait for its partition (in the queue of a single-threaded partition, or for a
    /// <see cref="MaxConcurrentRequests"/> permit) before it is answered <c>503</c> with <c>Retry-After</c>.
    /// <see langword="null"/> for no limit.
    /// </summary>
    /// <remarks>Defaults to no limit: a request waits as long as the server's own timeouts let it.</remarks>
    [PositiveDuration]
    public TimeSpan? MaxQueueWait { get; set; }
}
