namespace PartitionedHosting;

/// <summary>
/// Runs when a partition instance starts and before it stops (at shutdown, or when it is recycled), on the partition's
/// thread for a single-threaded partition. Register it as a partition-local service (in the
/// <c>AddPartitionedHosting</c> callback) to save or hand over partition-local state.
/// </summary>
/// <remarks>
/// An exception from <see cref="OnStartedAsync"/> counts as a fault of the partition: it is logged and the partition
/// is replaced, within the crash-loop guard. An exception from <see cref="OnStoppingAsync"/> is logged.
/// </remarks>
public interface IPartitionLifecycleHook
{
    /// <summary>The partition instance is ready, before it takes requests.</summary>
    /// <param name="partition">The partition instance.</param>
    /// <param name="cancellationToken">Cancelled when the host stops.</param>
    /// <returns>A task that completes when the hook is done.</returns>
    Task OnStartedAsync(IPartitionContext partition, CancellationToken cancellationToken);

    /// <summary>The partition instance has drained its requests and is about to be disposed.</summary>
    /// <param name="partition">The partition instance.</param>
    /// <param name="cancellationToken">Cancelled when the stop's time is up.</param>
    /// <returns>A task that completes when the hook is done.</returns>
    Task OnStoppingAsync(IPartitionContext partition, CancellationToken cancellationToken);
}
