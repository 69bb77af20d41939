namespace PartitionedHosting.Tests.Infrastructure;

/// <summary>Builds <c>PartitionedHosting</c> configuration for a test.</summary>
internal static class Settings
{
    public static Dictionary<string, string?> Partitioned(int partitionCount, string mode, string distribution = "RoundRobin", int? maxQueueLength = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["PartitionedHosting:PartitionCount"] = partitionCount.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["PartitionedHosting:Mode"] = mode,
            ["PartitionedHosting:ConnectionDistribution"] = distribution,
        };
        if (maxQueueLength is { } length)
        {
            settings["PartitionedHosting:Admission:MaxQueueLength"] = length.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        return settings;
    }

    /// <summary>
    /// Pins Kestrel's transport: with the partitioned transport a blocked partition thread does not even read its
    /// connections, so queueing behind it (what these tests measure) happens in the socket, not in the partition.
    /// </summary>
    public static Dictionary<string, string?> KestrelTransport(Dictionary<string, string?> settings)
    {
        settings["PartitionedHosting:Transport"] = "Kestrel";
        return settings;
    }
}
