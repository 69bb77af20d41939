namespace PartitionedHosting;

/// <summary>The health of a partition.</summary>
public enum PartitionState
{
    /// <summary>Serving.</summary>
    Running,

    /// <summary>
    /// Its thread has run one synchronous segment for longer than <c>StallThreshold</c> (blocking or deadlocked code):
    /// new connections and unkeyed requests go to other partitions until the segment ends.
    /// </summary>
    Stalled,

    /// <summary>A new instance is being started to replace the current one.</summary>
    Recycling,

    /// <summary>
    /// It failed <c>CrashLoopMaxFailures</c> times within <c>CrashLoopWindow</c>: it takes no requests until it is
    /// tried again after a back-off (one window, doubling while it keeps failing, up to 16 windows), or recycled by hand.
    /// </summary>
    Unhealthy,

    /// <summary>The host stopped it.</summary>
    Stopped,
}

/// <summary>Why a partition was recycled.</summary>
public enum RecycleCause
{
    /// <summary>Asked for through <see cref="IPartitionManager.RecycleAsync"/>.</summary>
    Manual,

    /// <summary>It served <c>RecycleAfterRequests</c> requests (with jitter).</summary>
    Requests,

    /// <summary>It lived <c>RecycleAfter</c> (with jitter).</summary>
    Lifetime,

    /// <summary>It stayed stalled for <c>ReplaceStalledAfter</c>: its thread is presumed deadlocked.</summary>
    Stalled,

    /// <summary>An exception escaped work posted to it or one of its lifecycle hooks.</summary>
    Fault,

    /// <summary>It was unhealthy after a crash loop, and its back-off has passed: one more attempt.</summary>
    CrashLoopRetry,
}
