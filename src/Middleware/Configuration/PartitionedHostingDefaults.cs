namespace PartitionedHosting.Configuration;

/// <summary>The defaults of <see cref="PartitionedHostingOptions"/>, documented in one place.</summary>
internal static class PartitionedHostingDefaults
{
    public const string SectionName = "PartitionedHosting";

    public const int MaxPartitionCount = 1024;

    public const ExecutionMode Mode = ExecutionMode.FreeThreaded;

    public const PartitionTransport Transport = PartitionTransport.Kestrel;

    public const IdleResume IdleResume = IdleResume.Thread;

    public const int MaxQueueLength = 1024;

    public const int RetryAfterSeconds = 1;

    public const double RecycleJitter = 0.1;

    public const int MaxConcurrentRecycles = 1;

    public const int CrashLoopMaxFailures = 3;

    public static readonly TimeSpan StallThreshold = TimeSpan.FromSeconds(2);

    public static readonly TimeSpan RecycleDrainTimeout = TimeSpan.FromSeconds(30);

    public static readonly TimeSpan HandoffTimeout = TimeSpan.FromSeconds(10);

    public static readonly TimeSpan CrashLoopWindow = TimeSpan.FromMinutes(1);

    public static int PartitionCount => Environment.ProcessorCount;

    public const PartitionKeyFailure KeyFailure = PartitionKeyFailure.BadRequest;

    public static string KeyPolicy => PartitionKeyPolicies.JumpHash;

    public static string ConnectionDistribution => ConnectionDistributionPolicies.RoundRobin;
}
