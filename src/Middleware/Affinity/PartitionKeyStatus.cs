namespace PartitionedHosting;

/// <summary>Whether a request's partition key could be read.</summary>
public enum PartitionKeyStatus
{
    /// <summary>The key was read.</summary>
    Found,

    /// <summary>The request does not carry the key.</summary>
    Missing,

    /// <summary>The request carries the key in a form that cannot be used, for example a header sent twice.</summary>
    Unreadable,
}
