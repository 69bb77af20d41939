namespace PartitionedHosting.Distribution;

/// <summary>The registered <see cref="IConnectionDistributionPolicy"/> implementations, by case-insensitive name.</summary>
internal sealed class ConnectionDistributionPolicyRegistry(IEnumerable<IConnectionDistributionPolicy> policies)
    : NamedPolicyRegistry<IConnectionDistributionPolicy>(policies, static p => p.Name, "connection distribution");
