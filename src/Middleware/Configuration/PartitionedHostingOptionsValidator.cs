using Microsoft.Extensions.Options;
using PartitionedHosting.Distribution;

namespace PartitionedHosting.Configuration;

/// <summary>
/// Validates <see cref="PartitionedHostingOptions"/> as a whole and reports every problem at once.
/// </summary>
internal sealed class PartitionedHostingOptionsValidator(ConnectionDistributionPolicyRegistry policies) : IValidateOptions<PartitionedHostingOptions>
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

        if (!policies.Contains(options.ConnectionDistribution))
        {
            errors.Add($"{Section}:ConnectionDistribution = '{options.ConnectionDistribution}' is not valid; allowed values: {string.Join(", ", policies.Names)}.");
        }

        if (options.MaxQueueLength < 1)
        {
            errors.Add($"{Section}:MaxQueueLength = '{options.MaxQueueLength}' is not valid; allowed values: an integer of 1 or more.");
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

            if (partition.MaxQueueLength is < 1)
            {
                errors.Add($"{key}:MaxQueueLength = '{partition.MaxQueueLength}' is not valid; allowed values: an integer of 1 or more.");
            }
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
