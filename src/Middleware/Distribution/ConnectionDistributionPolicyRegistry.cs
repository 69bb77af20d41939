using System.Collections.Frozen;

namespace PartitionedHosting.Distribution;

/// <summary>The registered <see cref="IConnectionDistributionPolicy"/> implementations, by case-insensitive name.</summary>
internal sealed class ConnectionDistributionPolicyRegistry
{
    private readonly FrozenDictionary<string, IConnectionDistributionPolicy> _policies;

    public ConnectionDistributionPolicyRegistry(IEnumerable<IConnectionDistributionPolicy> policies)
    {
        var byName = new Dictionary<string, IConnectionDistributionPolicy>(StringComparer.OrdinalIgnoreCase);
        foreach (var policy in policies)
        {
            if (!byName.TryAdd(policy.Name, policy))
            {
                throw new InvalidOperationException(
                    $"Two connection distribution policies are named '{policy.Name}' ({byName[policy.Name].GetType()} and {policy.GetType()}); policy names must be unique.");
            }
        }

        _policies = byName.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase);
        Names = [.. _policies.Keys.Order(StringComparer.Ordinal)];
    }

    public IReadOnlyList<string> Names { get; }

    public bool Contains(string? name) => name is not null && _policies.ContainsKey(name);

    public IConnectionDistributionPolicy Get(string name) => _policies[name];
}
