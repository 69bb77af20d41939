using PartitionedHosting;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Declares partition keys on endpoints.</summary>
public static class PartitionKeyEndpointConventionBuilderExtensions
{
    /// <summary>
    /// Runs every request of the endpoint on the partition that owns its key, read from <paramref name="source"/>.
    /// </summary>
    /// <typeparam name="TBuilder">The endpoint convention builder.</typeparam>
    /// <param name="builder">The endpoint, or group of endpoints.</param>
    /// <param name="source">Where the key is read from.</param>
    /// <param name="name">The name of the route value, header, query value or claim type that holds the key.</param>
    /// <returns>The builder, for chaining.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="name"/> is empty.</exception>
    public static TBuilder WithPartitionKey<TBuilder>(this TBuilder builder, PartitionKeySource source, string name)
        where TBuilder : IEndpointConventionBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        var metadata = new PartitionKeyAttribute(source, name);
        builder.Add(endpoint => endpoint.Metadata.Add(metadata));
        return builder;
    }

    /// <summary>Runs every request of the endpoint on the partition that owns the key in route value <paramref name="routeValue"/>.</summary>
    /// <typeparam name="TBuilder">The endpoint convention builder.</typeparam>
    /// <param name="builder">The endpoint, or group of endpoints.</param>
    /// <param name="routeValue">The name of the route value that holds the key.</param>
    /// <returns>The builder, for chaining.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="routeValue"/> is empty.</exception>
    public static TBuilder WithPartitionKey<TBuilder>(this TBuilder builder, string routeValue)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithPartitionKey(PartitionKeySource.Route, routeValue);
}
