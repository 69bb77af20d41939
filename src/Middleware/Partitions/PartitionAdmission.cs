using System.Threading.RateLimiting;

namespace PartitionedHosting.Partitions;

/// <summary>Whether a partition admitted a request, and the concurrency permit it holds if the partition has a bound.</summary>
internal readonly record struct PartitionAdmission(bool IsAdmitted, RateLimitLease? Lease, string? RejectionReason = null, bool IsRetired = false)
{
    public static PartitionAdmission Admitted => new(true, null);

    public static PartitionAdmission Rejected => new(false, null, Diagnostics.RejectionReasons.QueueFull);

    /// <summary>The wait for a permit ran past <c>Admission:MaxQueueWait</c>, or the client went away.</summary>
    public static PartitionAdmission TimedOut => new(false, null, Diagnostics.RejectionReasons.QueueWait);

    /// <summary>The instance is being replaced: admit the request on the partition's current instance instead.</summary>
    public static PartitionAdmission Retired => new(false, null, null, IsRetired: true);
}
