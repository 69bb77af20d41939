namespace PartitionedHosting;

/// <summary>The health of a partition.</summary>
public enum PartitionState
{
    /// <summary>Serving.</summary>
    Running,

    /// <summary>
    /// Its thread has run one synchronous segment for longer than <c>Watchdog:StallThreshold</c> (blocking or deadlocked code):
    /// new connections and unkeyed requests go to other partitions until the segment ends.
    /// </summary>
    Stalled,

    /// <summary>A new instance is being started to replace the current one.</summary>
    Recycling,

    /// <summary>
    /// It failed <c>Watchdog:CrashLoopMaxFailures</c> times within <c>Watchdog:CrashLoopWindow</c>: it takes no requests until it is
    /// tried again after a back-off (one window, doubling while it keeps failing, up to 16 windows), or recycled by hand.
    /// </summary>
    Unhealthy,

    /// <summary>The host stopped it.</summary>
    Stopped,
}
