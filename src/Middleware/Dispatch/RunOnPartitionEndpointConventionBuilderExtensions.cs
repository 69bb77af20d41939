using PartitionedHosting;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Pins endpoints to a partition.</summary>
public static class RunOnPartitionEndpointConventionBuilderExtensions
{
    /// <summary>
    /// Runs the endpoint on partition <paramref name="partition"/>, whichever partition its request's connection
    /// belongs to: for example the endpoints that block their thread, on a <c>Dedicated</c>, free-threaded partition
    /// with bounded concurrency (see <see cref="RunOnPartitionAttribute"/>).
    /// </summary>
    /// <typeparam name="TBuilder">The endpoint convention builder.</typeparam>
    /// <param name="builder">The endpoint, or group of endpoints.</param>
    /// <param name="partition">The partition's index, from 0 to <c>PartitionCount - 1</c>.</param>
    /// <returns>The builder, for chaining.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="partition"/> is negative.</exception>
    public static TBuilder RunOnPartition<TBuilder>(this TBuilder builder, int partition)
        where TBuilder : IEndpointConventionBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentOutOfRangeException.ThrowIfNegative(partition);
        var metadata = new RunOnPartitionAttribute(partition);
        builder.Add(endpoint => endpoint.Metadata.Add(metadata));
        return builder;
    }
}
