namespace PartitionedHosting;

/// <summary>
/// Chooses the partition of a new connection. The connection keeps that partition for its lifetime.
/// </summary>
/// <remarks>
/// Policies are singletons chosen by <see cref="Name"/> through <c>PartitionedHosting:ConnectionDistribution</c>;
/// register one with <c>services.TryAddEnumerable(ServiceDescriptor.Singleton&lt;IConnectionDistributionPolicy, T&gt;())</c>.
/// <see cref="SelectPartition"/> runs on the accept path of every connection and must be thread-safe and fast.
/// Where there is no connection (under <c>TestServer</c>), every request is treated as a connection of its own.
/// </remarks>
public interface IConnectionDistributionPolicy
{
    /// <summary>The name configuration uses to choose this policy. Compared case-insensitively.</summary>
    string Name { get; }

    /// <summary>Picks a partition for a new connection.</summary>
    /// <param name="context">The connection and the partitions to choose from.</param>
    /// <returns>The index of the chosen partition in <see cref="ConnectionDistributionContext.Partitions"/>.</returns>
    int SelectPartition(ConnectionDistributionContext context);
}
