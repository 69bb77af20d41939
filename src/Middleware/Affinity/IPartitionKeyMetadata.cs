namespace PartitionedHosting;

/// <summary>
/// Endpoint metadata that declares the endpoint's partition key: every request with the same key runs the endpoint
/// on the same partition, the key's owner.
/// </summary>
public interface IPartitionKeyMetadata
{
    /// <summary>Where the key is read from.</summary>
    PartitionKeySource Source { get; }

    /// <summary>The name of the route value, header, query value or claim type that holds the key.</summary>
    string Name { get; }
}
