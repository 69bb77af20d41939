using Microsoft.Extensions.DependencyInjection;
using PartitionedHosting.DependencyInjection;
using PartitionedHosting.Diagnostics;

namespace PartitionedHosting.Partitions;

/// <summary>Disposal of an instance: its stopping hooks, its services on its thread, its thread; bounded in time.</summary>
internal sealed partial class PartitionRuntime
{
    /// <summary>
    /// Runs the stopping hooks, disposes the container (on the partition's thread) and ends the thread, once per
    /// instance, all within a timeout, and within a short grace after the host's shutdown deadline: a partition whose
    /// thread is blocked cannot hold up a recycle or the host's shutdown; it is then left to the garbage collector, logged.
    /// </summary>
    private async Task DisposeInstanceAsync(PartitionInstance instance)
    {
        if (!instance.TryBeginDispose())
        {
            return;
        }

        using var timeout = new CancellationTokenSource(s_disposeTimeout, TimeProvider);
        using var deadline = _disposalDeadline.Token.UnsafeRegister(static t => ((CancellationTokenSource)t!).Cancel(), timeout);
        var cancellationToken = timeout.Token;
        var stage = "stopping hooks";
        try
        {
            foreach (var hook in GetLifecycleHooks(instance))
            {
                try
                {
                    await instance.InvokeAsync(h => ((IPartitionLifecycleHook)h).OnStoppingAsync(instance, cancellationToken), hook)
                        .WaitAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    Log.LifecycleHookFailed(_logger, instance.Id, "stopping", ex);
                }
            }

            // Partition-local services are disposed where they live: on the partition's thread.
            stage = "disposing its services";
            try
            {
                await instance.InvokeAsync(static c => ((PartitionContainer)c).DisposeAsync().AsTask(), instance.Container)
                    .WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                Log.DisposeFailed(_logger, instance.Id, ex);
            }

            if (instance.Thread is { } thread)
            {
                stage = "ending its thread";
                thread.Stop();
                await thread.Exited.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            Log.DisposeAbandoned(_logger, instance.Id, instance.Generation, stage);
        }
        finally
        {
            _instances.TryRemove(instance, out _);
        }
    }

    /// <summary>
    /// The instance's lifecycle hooks; none when the application's services are already disposed (a host disposed
    /// without being stopped, after a failed start: the container disposes the runtime last).
    /// </summary>
    private static IEnumerable<IPartitionLifecycleHook> GetLifecycleHooks(PartitionInstance instance)
    {
        try
        {
            return [.. instance.Services.GetServices<IPartitionLifecycleHook>()];
        }
        catch (ObjectDisposedException)
        {
            return [];
        }
    }
}
