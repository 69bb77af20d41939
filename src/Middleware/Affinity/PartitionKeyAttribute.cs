namespace PartitionedHosting;

/// <summary>
/// Declares the partition key of a controller action, a controller (all its actions) or a Razor page: every
/// request with the same key runs on the key's owner partition.
/// </summary>
/// <param name="source">Where the key is read from.</param>
/// <param name="name">The name of the route value, header, query value or claim type that holds the key.</param>
[AttributeUsage(AttributeTargets.Class | AttributeTargets.Method, AllowMultiple = false, Inherited = true)]
public sealed class PartitionKeyAttribute(PartitionKeySource source, string name) : Attribute, IPartitionKeyMetadata
{
    /// <summary>Declares a partition key read from the route value <paramref name="routeValue"/>.</summary>
    /// <param name="routeValue">The name of the route value.</param>
    public PartitionKeyAttribute(string routeValue)
        : this(PartitionKeySource.Route, routeValue)
    {
    }

    /// <inheritdoc/>
    public PartitionKeySource Source { get; } = source;

    /// <inheritdoc/>
    public string Name { get; } = string.IsNullOrEmpty(name) ? throw new ArgumentException("A partition key needs a name.", nameof(name)) : name;
}
