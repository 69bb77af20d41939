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

    public ValidateOptionsResult Validate(string? name, PartitionedHostingOptions options)
    {
        var errors = new List<string>(options.BindingErrors);
        var modes = string.Join(", ", Enum.GetNames<ExecutionMode>());

        if (options.PartitionCount is < 1 or > PartitionedHostingDefaults.MaxPartitionCount)
        {
            errors.Add($"{Section}:PartitionCount = '{options.PartitionCount}' is not valid; allowed values: an integer from 1 to {PartitionedHostingDefaults.MaxPartitionCount}.");
        }

        if (!Enum.IsDefined(options.Mode))
        {
            errors.Add($"{Section}:Mode = '{options.Mode}' is not valid; allowed values: {modes}.");
        }

        if (!Enum.IsDefined(options.IdleResume))
        {
            errors.Add($"{Section}:IdleResume = '{options.IdleResume}' is not valid; allowed values: {string.Join(", ", Enum.GetNames<IdleResume>())}.");
        }

        if (!Enum.IsDefined(options.Transport))
        {
            errors.Add($"{Section}:Transport = '{options.Transport}' is not valid; allowed values: {string.Join(", ", Enum.GetNames<PartitionTransport>())}.");
        }

        if (!policies.Contains(options.ConnectionDistribution))
        {
            errors.Add($"{Section}:ConnectionDistribution = '{options.ConnectionDistribution}' is not valid; allowed values: {string.Join(", ", policies.Names)}.");
        }

        if (options.MaxQueueLength < 1)
        {
            errors.Add($"{Section}:MaxQueueLength = '{options.MaxQueueLength}' is not valid; allowed values: an integer of 1 or more.");
        }

        if (options.MaxConcurrentRequests is < 1)
        {
            errors.Add($"{Section}:MaxConcurrentRequests = '{options.MaxConcurrentRequests}' is not valid; allowed values: an integer of 1 or more.");
        }

        if (options.MaxQueueWait is { } wait && wait <= TimeSpan.Zero)
        {
            errors.Add($"{Section}:MaxQueueWait = '{wait}' is not valid; allowed values: a positive duration such as 00:00:02.5.");
        }

        RequirePositive(errors, "StallThreshold", options.StallThreshold);
        RequirePositive(errors, "ReplaceStalledAfter", options.ReplaceStalledAfter);
        RequirePositive(errors, "RecycleAfter", options.RecycleAfter);
        RequirePositive(errors, "RecycleDrainTimeout", options.RecycleDrainTimeout);
        RequirePositive(errors, "HandoffTimeout", options.HandoffTimeout);
        RequirePositive(errors, "CrashLoopWindow", options.CrashLoopWindow);
        RequireAtLeastOne(errors, "RecycleAfterRequests", options.RecycleAfterRequests);
        RequireAtLeastOne(errors, "MaxConcurrentRecycles", options.MaxConcurrentRecycles);
        RequireAtLeastOne(errors, "CrashLoopMaxFailures", options.CrashLoopMaxFailures);
        if (options.RecycleJitter is < 0 or > 0.5 || double.IsNaN(options.RecycleJitter))
        {
            errors.Add($"{Section}:RecycleJitter = '{options.RecycleJitter.ToString(System.Globalization.CultureInfo.InvariantCulture)}' is not valid; allowed values: a number from 0 to 0.5.");
        }

        if (!keyPolicies.Contains(options.KeyPolicy))
        {
            errors.Add($"{Section}:KeyPolicy = '{options.KeyPolicy}' is not valid; allowed values: {string.Join(", ", keyPolicies.Names)}.");
        }

        if (!Enum.IsDefined(options.KeyFailure))
        {
            errors.Add($"{Section}:KeyFailure = '{options.KeyFailure}' is not valid; allowed values: {string.Join(", ", Enum.GetNames<PartitionKeyFailure>())}.");
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

            if (partition.Mode is { } mode && !Enum.IsDefined(mode))
            {
                errors.Add($"{key}:Mode = '{mode}' is not valid; allowed values: {modes}.");
            }

            if (partition.IdleResume is { } resume && !Enum.IsDefined(resume))
            {
                errors.Add($"{key}:IdleResume = '{resume}' is not valid; allowed values: {string.Join(", ", Enum.GetNames<IdleResume>())}.");
            }

            if (partition.MaxConcurrentRequests is < 1)
            {
                errors.Add($"{key}:MaxConcurrentRequests = '{partition.MaxConcurrentRequests}' is not valid; allowed values: an integer of 1 or more.");
            }

            if (partition.MaxQueueLength is < 1)
            {
                errors.Add($"{key}:MaxQueueLength = '{partition.MaxQueueLength}' is not valid; allowed values: an integer of 1 or more.");
            }
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static void RequirePositive(List<string> errors, string name, TimeSpan? value)
    {
        if (value is { } duration && duration <= TimeSpan.Zero)
        {
            errors.Add($"{Section}:{name} = '{duration}' is not valid; allowed values: a positive duration such as 00:00:02.5.");
        }
    }

    private static void RequireAtLeastOne(List<string> errors, string name, int? value)
    {
        if (value is < 1)
        {
            errors.Add($"{Section}:{name} = '{value}' is not valid; allowed values: an integer of 1 or more.");
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
