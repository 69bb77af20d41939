using Microsoft.Extensions.Hosting;

namespace PartitionedHosting.Partitions;

/// <summary>
/// Ties the partitions to the host's lifecycle: they are built before any hosted service starts (so before any server
/// accepts), and drained and disposed after every hosted service, the web server included, has stopped.
/// </summary>
internal sealed class PartitionRuntimeLifecycle(PartitionRuntime runtime) : IHostedLifecycleService
{
    public Task StartingAsync(CancellationToken cancellationToken) => runtime.StartAsync().WaitAsync(cancellationToken);

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => runtime.StopAsync(cancellationToken);
}
