using Microsoft.Extensions.Diagnostics.HealthChecks;
using PartitionedHosting.Diagnostics;
using PartitionedHosting.Partitions;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Adds the partitions' health to ASP.NET Core health checks.</summary>
public static class PartitionedHostingHealthChecksBuilderExtensions
{
    /// <summary>
    /// Adds a health check that is Healthy while every partition runs, Degraded while a partition is stalled or
    /// recycling, and <paramref name="failureStatus"/> (Unhealthy by default) when a partition is down or the
    /// partitions are not running.
    /// </summary>
    /// <param name="builder">The health checks builder.</param>
    /// <param name="name">The check's name.</param>
    /// <param name="failureStatus">The status reported when partitions are down; Unhealthy when <see langword="null"/>.</param>
    /// <param name="tags">Tags to filter checks by.</param>
    /// <returns>The builder, for chaining.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is <see langword="null"/>.</exception>
    public static IHealthChecksBuilder AddPartitionedHostingHealthCheck(
        this IHealthChecksBuilder builder,
        string name = "partitions",
        HealthStatus? failureStatus = null,
        IEnumerable<string>? tags = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.Add(new HealthCheckRegistration(
            name,
            services => new PartitionHealthCheck(services.GetRequiredService<PartitionRuntime>()),
            failureStatus,
            tags));
    }
}
