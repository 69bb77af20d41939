using System.Collections.Frozen;

namespace PartitionedHosting.Distribution;

/// <summary>Registered policies of one kind, by case-insensitive name; a duplicate name fails at startup.</summary>
internal abstract class NamedPolicyRegistry<TPolicy>
    where TPolicy : class
{
    private readonly FrozenDictionary<string, TPolicy> _policies;

    protected NamedPolicyRegistry(IEnumerable<TPolicy> policies, Func<TPolicy, string> name, string kind)
    {
        var byName = new Dictionary<string, TPolicy>(StringComparer.OrdinalIgnoreCase);
        foreach (var policy in policies)
        {
            if (!byName.TryAdd(name(policy), policy))
            {
                throw new InvalidOperationException(
                    $"Two {kind} policies are named '{name(policy)}' ({byName[name(policy)].GetType()} and {policy.GetType()}); policy names must be unique.");
            }
        }

        _policies = byName.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase);
        Names = [.. _policies.Keys.Order(StringComparer.Ordinal)];
    }

    public IReadOnlyList<string> Names { get; }

    public bool Contains(string? name) => name is not null && _policies.ContainsKey(name);

    public TPolicy Get(string name) => _policies[name];
}
