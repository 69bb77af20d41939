using Microsoft.Extensions.Diagnostics.HealthChecks;
using PartitionedHosting.Partitions;

namespace PartitionedHosting.Diagnostics;

/// <summary>
/// Healthy while every partition runs; Degraded while one is stalled or recycling; Unhealthy (the registration's
/// failure status) when one is down (crash-looping) or the partitions are not running.
/// </summary>
internal sealed class PartitionHealthCheck(PartitionRuntime runtime) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (!runtime.IsRunning)
        {
            return Task.FromResult(new HealthCheckResult(context.Registration.FailureStatus, "The partitions are not running."));
        }

        var snapshots = runtime.GetSnapshots();
        var data = snapshots.ToDictionary(s => $"partition {s.Id}", s => (object)s.State.ToString());
        var down = snapshots.Where(s => s.State == PartitionState.Unhealthy).Select(s => s.Id).ToList();
        var degraded = snapshots.Where(s => s.State is PartitionState.Stalled or PartitionState.Recycling).Select(s => s.Id).ToList();

        var result = down.Count > 0
            ? new HealthCheckResult(context.Registration.FailureStatus, $"Partitions down: {string.Join(", ", down)}.", data: data)
            : degraded.Count > 0
                ? HealthCheckResult.Degraded($"Partitions stalled or recycling: {string.Join(", ", degraded)}.", data: data)
                : HealthCheckResult.Healthy($"{snapshots.Count} partitions running.", data);
        return Task.FromResult(result);
    }
}
