using PartitionedHosting.Configuration;

namespace PartitionedHosting;

/// <summary>
/// What the watchdog does about partitions that stop making progress (<c>PartitionedHosting:Watchdog</c>): when a
/// single-threaded partition counts as stalled, when a stalled or faulting one is replaced, and when replacing stops.
/// </summary>
public sealed class PartitionWatchdogOptions
{
    /// <summary>
    /// How long one synchronous segment of a single-threaded partition may run before the partition is marked
    /// stalled: logged with the request and the duration, new connections and unkeyed requests go to other
    /// partitions, and requests that must run on it (keyed) get 503 with <c>Retry-After</c>, until the segment ends.
    /// </summary>
    /// <remarks>Defaults to 2 seconds. The watchdog looks four times per threshold (at most once a second).</remarks>
    [PositiveDuration]
    public TimeSpan StallThreshold { get; set; } = PartitionedHostingDefaults.StallThreshold;

    /// <summary>
    /// How long a partition may stay stalled before it is presumed deadlocked (sync-over-async on its own thread) and
    /// replaced; <see langword="null"/> never replaces a stalled partition.
    /// </summary>
    /// <remarks>Defaults to never. The replaced thread cannot be stopped: its requests are abandoned and logged.</remarks>
    [PositiveDuration]
    public TimeSpan? ReplaceStalledAfter { get; set; }

    /// <summary>
    /// How many faults (exceptions escaping work posted to a partition or its lifecycle hooks) within
    /// <see cref="CrashLoopWindow"/> stop the replacing: the partition is then marked unhealthy.
    /// </summary>
    /// <remarks>Defaults to 3.</remarks>
    [SettingRange(1, int.MaxValue)]
    public int CrashLoopMaxFailures { get; set; } = PartitionedHostingDefaults.CrashLoopMaxFailures;

    /// <summary>The window of <see cref="CrashLoopMaxFailures"/>.</summary>
    /// <remarks>Defaults to 1 minute.</remarks>
    [PositiveDuration]
    public TimeSpan CrashLoopWindow { get; set; } = PartitionedHostingDefaults.CrashLoopWindow;
}
