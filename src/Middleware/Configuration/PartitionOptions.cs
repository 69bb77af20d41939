using PartitionedHosting.Configuration;

namespace PartitionedHosting;

/// <summary>
/// Settings of one partition that override the section-wide values of <see cref="PartitionedHostingOptions"/>.
/// </summary>
public sealed class PartitionOptions
{
    /// <summary>The partition's execution mode; when <see langword="null"/>, <see cref="PartitionedHostingOptions.Mode"/>.</summary>
    [DefinedValue]
    public ExecutionMode? Mode { get; set; }

    /// <summary>The partition's queue bound; when <see langword="null"/>, <see cref="PartitionAdmissionOptions.MaxQueueLength"/>.</summary>
    [SettingRange(1, int.MaxValue)]
    public int? MaxQueueLength { get; set; }

    /// <summary>What resumes the partition's code while its thread sleeps; when <see langword="null"/>, <see cref="PartitionedHostingOptions.IdleResume"/>.</summary>
    [DefinedValue]
    public IdleResume? IdleResume { get; set; }

    /// <summary>The partition's concurrency bound; when <see langword="null"/>, <see cref="PartitionAdmissionOptions.MaxConcurrentRequests"/>.</summary>
    [SettingRange(1, int.MaxValue)]
    public int? MaxConcurrentRequests { get; set; }

    /// <summary>
    /// Whether the partition is dedicated to the endpoints pinned to it (<c>RunOnPartition</c>): it takes no
    /// connections, owns no keys and receives no other requests, so that what those endpoints do (block their thread,
    /// for one) stays there. At least one partition must not be dedicated. Defaults to <see langword="false"/>.
    /// </summary>
    public bool Dedicated { get; set; }
}
