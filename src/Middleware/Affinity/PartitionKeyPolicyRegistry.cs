using PartitionedHosting.Distribution;

namespace PartitionedHosting.Affinity;

/// <summary>The registered <see cref="IPartitionKeyPolicy"/> implementations, by case-insensitive name.</summary>
internal sealed class PartitionKeyPolicyRegistry(IEnumerable<IPartitionKeyPolicy> policies)
    : NamedPolicyRegistry<IPartitionKeyPolicy>(policies, static p => p.Name, "partition key");
