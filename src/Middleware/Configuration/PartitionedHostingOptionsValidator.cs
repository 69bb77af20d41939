using Microsoft.Extensions.Options;
using PartitionedHosting.Affinity;
using PartitionedHosting.Distribution;

namespace PartitionedHosting.Configuration;

/// <summary>
/// Validates <see cref="PartitionedHostingOptions"/> as a whole and reports every problem at once.
/// </summary>
internal sealed class PartitionedHostingOptionsValidator(ConnectionDistributionPolicyRegistry policies, PartitionKeyPolicyRegistry keyPolicies)
    : IValidateOptions<PartitionedHostingOptions>
{
    private const string Section = PartitionedHostingDefaults.SectionName;

    private static readonly PartitionedHostingOptionsAttributeValidator s_attributes = new();
    private static readonly PartitionOptionsAttributeValidator s_partitionAttributes = new();

    public ValidateOptionsResult Validate(string? name, PartitionedHostingOptions options)
    {
        var errors = new List<string>();

        // The section's name as the options' name: the generated validator then names members by their keys.
        AddFailures(errors, s_attributes.Validate(Section, options));

        if (!policies.Contains(options.ConnectionDistribution))
        {
            errors.Add($"{Section}:ConnectionDistribution = '{options.ConnectionDistribution}' is not valid; allowed values: {string.Join(", ", policies.Names)}.");
        }

        if (!keyPolicies.Contains(options.KeyPolicy))
        {
            errors.Add($"{Section}:KeyPolicy = '{options.KeyPolicy}' is not valid; allowed values: {string.Join(", ", keyPolicies.Names)}.");
        }

        ValidateCluster(errors, options.Cluster);

        for (var i = 0; i < options.Keys.Count; i++)
        {
            var declared = options.Keys[i];
            if (!declared.Pattern.StartsWith('/'))
            {
                errors.Add($"{Section}:Keys:{i}:Pattern = '{declared.Pattern}' is not valid; allowed values: a route pattern starting with '/', as the endpoint is mapped.");
            }

            if (string.IsNullOrWhiteSpace(declared.Name))
            {
                errors.Add($"{Section}:Keys:{i}:Name is missing; allowed values: the name of the route value, header, query value or claim that holds the key.");
            }
        }

        if (options.PartitionCount >= 1 && Enumerable.Range(0, options.PartitionCount).All(options.IsDedicated))
        {
            errors.Add($"{Section}:Partitions:{{index}}:Dedicated is true for every partition; allowed: at least one partition that is not dedicated, to take the connections.");
        }

        foreach (var (index, partition) in options.Partitions.OrderBy(p => p.Key))
        {
            var key = $"{Section}:Partitions:{index}";
            if (index < 0 || index >= options.PartitionCount)
            {
                errors.Add($"{key} names partition {index}, which does not exist; allowed indexes: 0 to {options.PartitionCount - 1} (PartitionCount = {options.PartitionCount}).");
            }

            AddFailures(errors, s_partitionAttributes.Validate(key, partition));
        }

        // A key the configuration check rejected keeps its default, which the rules may then find wrong too (a Keys:0:Name
        // given as a section is also "missing"): the check's message says what to fix.
        var problems = options.BindingProblems;
        errors = [.. problems.Select(p => p.Message), .. errors.Where(error => !problems.Exists(p => p.Covers(error)))];
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static void AddFailures(List<string> errors, ValidateOptionsResult result)
    {
        if (result.Failed)
        {
            errors.AddRange(result.Failures);
        }
    }

    private static void ValidateCluster(List<string> errors, PartitionClusterOptions cluster)
    {
        var nodes = cluster.Nodes;
        if (nodes.Count == 0)
        {
            if (cluster.Self is not null)
            {
                errors.Add($"{Section}:Cluster:Self is set but {Section}:Cluster:Nodes is empty; allowed: the list of every node's name (its base address), then Self, this node's index or name.");
            }

            return;
        }

        for (var i = 0; i < nodes.Count; i++)
        {
            if (string.IsNullOrWhiteSpace(nodes[i]))
            {
                errors.Add($"{Section}:Cluster:Nodes:{i} is empty; allowed values: a node's name, its base address for example.");
            }
            else if (PartitionCluster.IndexOf(nodes.Take(i), nodes[i]) >= 0)
            {
                errors.Add($"{Section}:Cluster:Nodes:{i} = '{nodes[i]}' is listed twice; allowed values: every node once.");
            }
        }

        if (cluster.Self is null)
        {
            errors.Add($"{Section}:Cluster:Self is missing; allowed values: this node's index in Cluster:Nodes (0 to {nodes.Count - 1}) or its name.");
        }
        else if (SelfIndex(cluster) < 0)
        {
            errors.Add($"{Section}:Cluster:Self = '{cluster.Self}' is not a node; allowed values: 0 to {nodes.Count - 1}, or one of {string.Join(", ", nodes)}.");
        }
    }

    /// <summary>This node's index in the cluster's nodes; -1 when <see cref="PartitionClusterOptions.Self"/> names none.</summary>
    internal static int SelfIndex(PartitionClusterOptions cluster)
    {
        var self = cluster.Self?.Trim();
        if (string.IsNullOrEmpty(self))
        {
            return -1;
        }

        if (int.TryParse(self, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var index))
        {
            return index < cluster.Nodes.Count ? index : -1;
        }

        return PartitionCluster.IndexOf(cluster.Nodes, self);
    }
}
