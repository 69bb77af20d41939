namespace PartitionedHosting;

/// <summary>Why a partition was recycled.</summary>
public enum RecycleCause
{
    /// <summary>Asked for through <see cref="IPartitionManager.RecycleAsync"/>.</summary>
    Manual,

    /// <summary>It served <c>Recycling:AfterRequests</c> requests (with jitter).</summary>
    Requests,

    /// <summary>It lived <c>Recycling:After</c> (with jitter).</summary>
    Lifetime,

    /// <summary>It stayed stalled for <c>Watchdog:ReplaceStalledAfter</c>: its thread is presumed deadlocked.</summary>
    Stalled,

    /// <summary>An exception escaped work posted to it or one of its lifecycle hooks.</summary>
    Fault,

    /// <summary>It was unhealthy after a crash loop, and its back-off has passed: one more attempt.</summary>
    CrashLoopRetry,
}
