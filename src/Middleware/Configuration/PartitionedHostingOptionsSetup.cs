using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace PartitionedHosting.Configuration;

/// <summary>
/// Binds <see cref="PartitionedHostingOptions"/> from the <c>PartitionedHosting</c> section when the options are
/// first asked for, so that configuration added later (a test's <c>ConfigureAppConfiguration</c>) is seen.
/// </summary>
/// <remarks>
/// The configuration binder stops at the first value it cannot convert; this setup records every unreadable value
/// and every unknown key instead, so that validation can report all of them in one message.
/// </remarks>
internal sealed class PartitionedHostingOptionsSetup(IConfiguration configuration) : IConfigureOptions<PartitionedHostingOptions>
{
    private const string Section = PartitionedHostingDefaults.SectionName;
    private const string KnownSettings =
        "PartitionCount, Mode, IdleResume, Transport, ConnectionDistribution, MaxQueueLength, MaxConcurrentRequests, MaxQueueWait, KeyPolicy, KeyFailure, Keys, " +
        "StallThreshold, ReplaceStalledAfter, RecycleAfterRequests, RecycleAfter, RecycleJitter, MaxConcurrentRecycles, RecycleDrainTimeout, HandoffTimeout, " +
        "CrashLoopMaxFailures, CrashLoopWindow, DetectEscapes, Partitions, Cluster";

    public void Configure(PartitionedHostingOptions options)
    {
        var section = configuration.GetSection(Section);
        foreach (var child in section.GetChildren())
        {
            if (IsUnset(child))
            {
                continue;
            }

            var key = $"{Section}:{child.Key}";
            switch (child.Key.ToUpperInvariant())
            {
                case "PARTITIONCOUNT":
                    if (ReadInt(child, key, options.BindingErrors, "an integer from 1 to 1024") is { } count)
                    {
                        options.PartitionCount = count;
                    }
                    break;
                case "MODE":
                    if (ReadEnum<ExecutionMode>(child, key, options.BindingErrors) is { } mode)
                    {
                        options.Mode = mode;
                    }
                    break;
                case "IDLERESUME":
                    options.IdleResume = ReadEnum<IdleResume>(child, key, options.BindingErrors) ?? options.IdleResume;
                    break;
                case "CONNECTIONDISTRIBUTION":
                    if (child.Value is { } policy)
                    {
                        options.ConnectionDistribution = policy;
                    }
                    break;
                case "MAXQUEUELENGTH":
                    if (ReadInt(child, key, options.BindingErrors, "an integer of 1 or more") is { } length)
                    {
                        options.MaxQueueLength = length;
                    }
                    break;
                case "MAXCONCURRENTREQUESTS":
                    options.MaxConcurrentRequests = ReadInt(child, key, options.BindingErrors, "an integer of 1 or more") ?? options.MaxConcurrentRequests;
                    break;
                case "MAXQUEUEWAIT":
                    options.MaxQueueWait = ReadDuration(child, key, options.BindingErrors) ?? options.MaxQueueWait;
                    break;
                case "TRANSPORT":
                    options.Transport = ReadEnum<PartitionTransport>(child, key, options.BindingErrors) ?? options.Transport;
                    break;
                case "STALLTHRESHOLD":
                    options.StallThreshold = ReadDuration(child, key, options.BindingErrors) ?? options.StallThreshold;
                    break;
                case "REPLACESTALLEDAFTER":
                    options.ReplaceStalledAfter = ReadDuration(child, key, options.BindingErrors) ?? options.ReplaceStalledAfter;
                    break;
                case "RECYCLEAFTERREQUESTS":
                    options.RecycleAfterRequests = ReadInt(child, key, options.BindingErrors, "an integer of 1 or more") ?? options.RecycleAfterRequests;
                    break;
                case "RECYCLEAFTER":
                    options.RecycleAfter = ReadDuration(child, key, options.BindingErrors) ?? options.RecycleAfter;
                    break;
                case "RECYCLEJITTER":
                    options.RecycleJitter = ReadDouble(child, key, options.BindingErrors, "a number from 0 to 0.5") ?? options.RecycleJitter;
                    break;
                case "MAXCONCURRENTRECYCLES":
                    options.MaxConcurrentRecycles = ReadInt(child, key, options.BindingErrors, "an integer of 1 or more") ?? options.MaxConcurrentRecycles;
                    break;
                case "RECYCLEDRAINTIMEOUT":
                    options.RecycleDrainTimeout = ReadDuration(child, key, options.BindingErrors) ?? options.RecycleDrainTimeout;
                    break;
                case "HANDOFFTIMEOUT":
                    options.HandoffTimeout = ReadDuration(child, key, options.BindingErrors) ?? options.HandoffTimeout;
                    break;
                case "CRASHLOOPMAXFAILURES":
                    options.CrashLoopMaxFailures = ReadInt(child, key, options.BindingErrors, "an integer of 1 or more") ?? options.CrashLoopMaxFailures;
                    break;
                case "CRASHLOOPWINDOW":
                    options.CrashLoopWindow = ReadDuration(child, key, options.BindingErrors) ?? options.CrashLoopWindow;
                    break;
                case "DETECTESCAPES":
                    options.DetectEscapes = ReadBool(child, key, options.BindingErrors) ?? options.DetectEscapes;
                    break;
                case "KEYPOLICY":
                    options.KeyPolicy = child.Value ?? options.KeyPolicy;
                    break;
                case "KEYFAILURE":
                    options.KeyFailure = ReadEnum<PartitionKeyFailure>(child, key, options.BindingErrors) ?? options.KeyFailure;
                    break;
                case "KEYS":
                    BindKeys(child, options);
                    break;
                case "PARTITIONS":
                    BindPartitions(child, options);
                    break;
                case "CLUSTER":
                    BindCluster(child, options);
                    break;
                default:
                    options.BindingErrors.Add(
                        $"{key} is not a known setting; known settings are {KnownSettings}.");
                    break;
            }
        }
    }

    private static void BindPartitions(IConfigurationSection partitions, PartitionedHostingOptions options)
    {
        foreach (var entry in partitions.GetChildren())
        {
            var entryKey = $"{Section}:Partitions:{entry.Key}";
            if (!int.TryParse(entry.Key, NumberStyles.None, CultureInfo.InvariantCulture, out var index))
            {
                options.BindingErrors.Add($"{entryKey}: '{entry.Key}' is not a partition index; use an integer from 0 to PartitionCount - 1.");
                continue;
            }

            if (!options.Partitions.TryGetValue(index, out var partition))
            {
                partition = new PartitionOptions();
                options.Partitions[index] = partition;
            }

            foreach (var setting in entry.GetChildren())
            {
                if (IsUnset(setting))
                {
                    continue;
                }

                var key = $"{entryKey}:{setting.Key}";
                switch (setting.Key.ToUpperInvariant())
                {
                    case "MODE":
                        partition.Mode = ReadEnum<ExecutionMode>(setting, key, options.BindingErrors) ?? partition.Mode;
                        break;
                    case "IDLERESUME":
                        partition.IdleResume = ReadEnum<IdleResume>(setting, key, options.BindingErrors) ?? partition.IdleResume;
                        break;
                    case "MAXQUEUELENGTH":
                        partition.MaxQueueLength = ReadInt(setting, key, options.BindingErrors, "an integer of 1 or more") ?? partition.MaxQueueLength;
                        break;
                    case "MAXCONCURRENTREQUESTS":
                        partition.MaxConcurrentRequests = ReadInt(setting, key, options.BindingErrors, "an integer of 1 or more") ?? partition.MaxConcurrentRequests;
                        break;
                    case "DEDICATED":
                        partition.Dedicated = ReadBool(setting, key, options.BindingErrors) ?? partition.Dedicated;
                        break;
                    default:
                        options.BindingErrors.Add($"{key} is not a known partition setting; known settings are Mode, IdleResume, MaxQueueLength, MaxConcurrentRequests, Dedicated.");
                        break;
                }
            }
        }
    }

    // An empty value (an environment variable set to nothing, a null in JSON) leaves the setting at its default.
    private static bool IsUnset(IConfigurationSection setting) => string.IsNullOrEmpty(setting.Value) && !setting.GetChildren().Any();

    private static int? ReadInt(IConfigurationSection setting, string key, List<string> errors, string allowed)
    {
        if (int.TryParse(setting.Value, NumberStyles.AllowLeadingSign | NumberStyles.AllowLeadingWhite | NumberStyles.AllowTrailingWhite, CultureInfo.InvariantCulture, out var value))
        {
            return value;
        }

        errors.Add($"{key} = '{setting.Value}' is not valid; allowed values: {allowed}.");
        return null;
    }

    private static TEnum? ReadEnum<TEnum>(IConfigurationSection setting, string key, List<string> errors)
        where TEnum : struct, Enum
    {
        // Enum.TryParse also accepts numbers ("1"); configuration should name the value.
        if (setting.Value is { } text && !text.Any(char.IsDigit) && Enum.TryParse<TEnum>(text.Trim(), ignoreCase: true, out var value))
        {
            return value;
        }

        errors.Add($"{key} = '{setting.Value}' is not valid; allowed values: {string.Join(", ", Enum.GetNames<TEnum>())}.");
        return null;
    }

    private static bool? ReadBool(IConfigurationSection setting, string key, List<string> errors)
    {
        if (bool.TryParse(setting.Value?.Trim(), out var value))
        {
            return value;
        }

        errors.Add($"{key} = '{setting.Value}' is not valid; allowed values: true, false.");
        return null;
    }

    private static double? ReadDouble(IConfigurationSection setting, string key, List<string> errors, string allowed)
    {
        if (double.TryParse(setting.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
        {
            return value;
        }

        errors.Add($"{key} = '{setting.Value}' is not valid; allowed values: {allowed}.");
        return null;
    }

    private static TimeSpan? ReadDuration(IConfigurationSection setting, string key, List<string> errors)
    {
        if (TimeSpan.TryParse(setting.Value, CultureInfo.InvariantCulture, out var value))
        {
            return value;
        }

        errors.Add($"{key} = '{setting.Value}' is not valid; allowed values: a positive duration such as 00:00:02.5.");
        return null;
    }

    private static void BindCluster(IConfigurationSection cluster, PartitionedHostingOptions options)
    {
        foreach (var setting in cluster.GetChildren())
        {
            var key = $"{Section}:Cluster:{setting.Key}";
            switch (setting.Key.ToUpperInvariant())
            {
                case "NODES":
                    foreach (var node in setting.GetChildren().OrderBy(n => int.TryParse(n.Key, CultureInfo.InvariantCulture, out var i) ? i : int.MaxValue))
                    {
                        options.Cluster.Nodes.Add(node.Value ?? "");
                    }

                    break;
                case "SELF":
                    options.Cluster.Self = setting.Value;
                    break;
                default:
                    options.BindingErrors.Add($"{key} is not a known cluster setting; known settings are Nodes, Self.");
                    break;
            }
        }
    }

    private static void BindKeys(IConfigurationSection keys, PartitionedHostingOptions options)
    {
        foreach (var entry in keys.GetChildren())
        {
            var entryKey = $"{Section}:Keys:{entry.Key}";
            var declared = new PartitionKeyOptions();
            foreach (var setting in entry.GetChildren())
            {
                var key = $"{entryKey}:{setting.Key}";
                switch (setting.Key.ToUpperInvariant())
                {
                    case "PATTERN":
                        declared.Pattern = setting.Value ?? "";
                        break;
                    case "SOURCE":
                        declared.Source = ReadEnum<PartitionKeySource>(setting, key, options.BindingErrors) ?? declared.Source;
                        break;
                    case "NAME":
                        declared.Name = setting.Value ?? "";
                        break;
                    default:
                        options.BindingErrors.Add($"{key} is not a known key setting; known settings are Pattern, Source, Name.");
                        break;
                }
            }

            options.Keys.Add(declared);
        }
    }
}
