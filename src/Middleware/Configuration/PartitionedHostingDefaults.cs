namespace PartitionedHosting.Configuration;

/// <summary>The defaults of <see cref="PartitionedHostingOptions"/>, documented in one place.</summary>
internal static class PartitionedHostingDefaults
{
    public const string SectionName = "PartitionedHosting";

    public const int MaxPartitionCount = 1024;

    public const ExecutionMode Mode = ExecutionMode.FreeThreaded;

    public const int MaxQueueLength = 1024;

    public const int RetryAfterSeconds = 1;

    public static int PartitionCount => Environment.ProcessorCount;

    public const Affinity.PartitionKeyFailure KeyFailure = Affinity.PartitionKeyFailure.BadRequest;

    public static string KeyPolicy => Affinity.PartitionKeyPolicies.JumpHash;

    public static string ConnectionDistribution => Distribution.ConnectionDistributionPolicies.RoundRobin;
}
