namespace PartitionedHosting;

/// <summary>Where a request's partition key is read from.</summary>
public enum PartitionKeySource
{
    /// <summary>A route value of the matched endpoint, for example <c>id</c> in <c>/carts/{id}</c>.</summary>
    Route,

    /// <summary>A request header; sent more than once, or as a comma-separated list, the key is unreadable.</summary>
    Header,

    /// <summary>A query string value; given more than once, the key is unreadable.</summary>
    Query,

    /// <summary>A claim of the authenticated user; present more than once, the key is unreadable.</summary>
    Claim,
}
