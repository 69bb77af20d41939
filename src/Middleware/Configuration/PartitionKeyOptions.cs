using PartitionedHosting.Configuration;

namespace PartitionedHosting;

/// <summary>A partition key declared in configuration for the endpoints with a given route pattern.</summary>
public sealed class PartitionKeyOptions
{
    /// <summary>The endpoint's route pattern as written in code, for example <c>/carts/{id}/items</c>.</summary>
    public string Pattern { get; set; } = "";

    /// <summary>Where the key is read from.</summary>
    /// <remarks>Defaults to <see cref="PartitionKeySource.Route"/>.</remarks>
    [DefinedValue]
    public PartitionKeySource Source { get; set; } = PartitionKeySource.Route;

    /// <summary>The name of the route value, header, query value or claim type that holds the key.</summary>
    public string Name { get; set; } = "";
}
