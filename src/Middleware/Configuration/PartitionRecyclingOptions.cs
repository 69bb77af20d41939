using PartitionedHosting.Configuration;

namespace PartitionedHosting;

/// <summary>
/// When partitions are recycled (<c>PartitionedHosting:Recycling</c>): replaced by a fresh instance with a new
/// container, after a number of requests or a lifetime, a few at a time, with time for their requests to end.
/// </summary>
public sealed class PartitionRecyclingOptions
{
    /// <summary>Recycle a partition after it has admitted this many requests (with jitter); <see langword="null"/> never.</summary>
    /// <remarks>Defaults to never.</remarks>
    [SettingRange(1, int.MaxValue)]
    public int? AfterRequests { get; set; }

    /// <summary>Recycle a partition after it has lived this long (with jitter); <see langword="null"/> never.</summary>
    /// <remarks>Defaults to never.</remarks>
    [PositiveDuration]
    public TimeSpan? After { get; set; }

    /// <summary>
    /// The jitter applied to <see cref="AfterRequests"/> and <see cref="After"/>, as a fraction: each instance draws
    /// its limit uniformly within ± this share, so partitions do not all recycle at once.
    /// </summary>
    /// <remarks>Defaults to 0.1 (± 10 %). From 0 to 0.5.</remarks>
    [SettingRange(0d, 0.5d)]
    public double Jitter { get; set; } = PartitionedHostingDefaults.RecycleJitter;

    /// <summary>How many partitions may recycle at once; further recycles wait their turn.</summary>
    /// <remarks>Defaults to 1.</remarks>
    [SettingRange(1, int.MaxValue)]
    public int MaxConcurrent { get; set; } = PartitionedHostingDefaults.MaxConcurrentRecycles;

    /// <summary>
    /// How long a recycled instance may take to finish its in-flight requests before it is abandoned (logged, not
    /// disposed).
    /// </summary>
    /// <remarks>Defaults to 30 seconds.</remarks>
    [PositiveDuration]
    public TimeSpan DrainTimeout { get; set; } = PartitionedHostingDefaults.RecycleDrainTimeout;
}
