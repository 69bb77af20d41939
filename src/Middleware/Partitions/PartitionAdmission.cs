using System.Threading.RateLimiting;

namespace PartitionedHosting.Partitions;

/// <summary>Whether a partition admitted a request, and the concurrency permit it holds if the partition has a bound.</summary>
internal readonly record struct PartitionAdmission(bool IsAdmitted, RateLimitLease? Lease, string? RejectionReason = null, bool IsRetired = false)
{
    /// <summary>The instance that admitted (or refused) the request; set by <see cref="Partition.AdmitAsync"/>.</summary>
    public PartitionInstance? Instance { get; init; }

    /// <summary>
    /// Whether the request runs at once on the calling thread, which is its single-threaded partition's, and took no
    /// place in the queue (see <see cref="PartitionInstance.TryRunInline"/>).
    /// </summary>
    public bool RunsInline { get; init; }

    public static PartitionAdmission Admitted => new(true, null);

    public static PartitionAdmission Rejected => new(false, null, Diagnostics.RejectionReasons.QueueFull);

    /// <summary>The wait for a permit ran past <c>Admission:MaxQueueWait</c>, or the client went away.</summary>
    public static PartitionAdmission TimedOut => new(false, null, Diagnostics.RejectionReasons.QueueWait);

    /// <summary>The instance is being replaced: admit the request on the partition's current instance instead.</summary>
    public static PartitionAdmission Retired => new(false, null, null, IsRetired: true);
}
