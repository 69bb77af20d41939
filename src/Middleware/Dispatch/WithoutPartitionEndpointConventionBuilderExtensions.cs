using PartitionedHosting;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Runs endpoints outside the partitions.</summary>
public static class WithoutPartitionEndpointConventionBuilderExtensions
{
    /// <summary>
    /// Runs the endpoint's requests outside every partition, on the thread pool, with the application's services: they
    /// never queue behind a partition, so a health check or a diagnostics endpoint answers while partitions are stalled
    /// or full. The endpoint must not use partition-local services.
    /// </summary>
    /// <typeparam name="TBuilder">The endpoint convention builder.</typeparam>
    /// <param name="builder">The endpoint, or group of endpoints.</param>
    /// <returns>The builder, for chaining.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is <see langword="null"/>.</exception>
    public static TBuilder WithoutPartition<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        var metadata = new WithoutPartitionAttribute();
        builder.Add(endpoint => endpoint.Metadata.Add(metadata));
        return builder;
    }
}
