namespace PartitionedHosting;

/// <summary>Names of the built-in <see cref="IConnectionDistributionPolicy"/> implementations.</summary>
public static class ConnectionDistributionPolicies
{
    /// <summary>Each new connection goes to the next partition in turn. The default.</summary>
    public static string RoundRobin => nameof(RoundRobin);

    /// <summary>Each new connection goes to the partition with the fewest open connections (lowest index on a tie).</summary>
    public static string LeastConnections => nameof(LeastConnections);

    /// <summary>Two partitions are drawn at random; the one with fewer open connections wins.</summary>
    public static string PowerOfTwoChoices => nameof(PowerOfTwoChoices);

    /// <summary>
    /// The client's IP address is hashed with a stable hash (the same across processes and restarts) and mapped with
    /// jump consistent hashing, so a client always lands on the same partition for a given partition count.
    /// Connections without an IP address fall back to round robin.
    /// </summary>
    public static string ClientAddressHash => nameof(ClientAddressHash);
}
