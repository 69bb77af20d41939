using PartitionedHosting.Diagnostics;

namespace PartitionedHosting.Partitions;

/// <summary>Recycling: on demand, on faults (with the crash-loop guard), by limits; the new instance replaces the old, which drains.</summary>
internal sealed partial class PartitionRuntime
{
    public Task RecycleAsync(int partitionId, CancellationToken cancellationToken = default)
    {
        var partitions = _partitions;
        ArgumentOutOfRangeException.ThrowIfNegative(partitionId);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(partitionId, partitions.Length);
        if (_stopRequested)
        {
            throw new InvalidOperationException("The partitions are stopping: they are no longer recycled.");
        }

        var partition = partitions[partitionId];
        partition.IsUnhealthy = false;
        partition.ResetFailures();
        return RecycleOnDemandAsync(partition, cancellationToken);
    }

    private async Task RecycleOnDemandAsync(Partition partition, CancellationToken cancellationToken)
    {
        // A stop ends the wait for a slot as well.
        using var stopping = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping.Token);
        await RecycleCoreAsync(partition, partition.Current, RecycleCause.Manual, manual: true, stopping.Token).ConfigureAwait(false);
    }

    /// <summary>
    /// Starts a recycle in the background (a limit was reached, a fault, a deadlock), once per instance, on the thread
    /// pool: not on the thread that noticed (a request, the watchdog, a failing partition), nor in its execution context.
    /// </summary>
    public void RequestRecycle(Partition partition, PartitionInstance instance, RecycleCause cause)
    {
        if (!_stopRequested && instance.TryBeginRecycle())
        {
            ThreadPool.UnsafeQueueUserWorkItem(
                static s => _ = s.Runtime.RecycleCoreAsync(s.Partition, s.Instance, s.Cause, manual: false, s.Runtime._stopping.Token),
                (Runtime: this, Partition: partition, Instance: instance, Cause: cause),
                preferLocal: false);
        }
    }

    /// <summary>An exception escaped work posted to a partition: log it, and replace the partition unless it crash-loops.</summary>
    public void OnUnhandledException(PartitionInstance instance, Exception exception)
    {
        Log.UnhandledException(_logger, instance.Id, exception);
        OnFault(instance);
    }

    private void OnFault(PartitionInstance instance)
    {
        var partition = instance.Owner;
        if (!_running || partition.Current != instance)
        {
            return;
        }

        if (partition.RecordFailure(TimeProvider.GetTimestamp(), _options.Watchdog.CrashLoopWindow, _options.Watchdog.CrashLoopMaxFailures, TimeProvider))
        {
            // Like a restart back-off: try again later, and later still each time it fails again soon after.
            partition.IsUnhealthy = true;
            var retryIn = partition.NextCrashLoopRetry(TimeProvider.GetTimestamp(), _options.Watchdog.CrashLoopWindow, TimeProvider);
            Log.CrashLoop(_logger, partition.Id, _options.Watchdog.CrashLoopMaxFailures, _options.Watchdog.CrashLoopWindow, retryIn);
            partition.ScheduleCrashLoopRetry(TimeProvider.CreateTimer(
                static s =>
                {
                    var (runtime, instance) = ((PartitionRuntime, PartitionInstance))s!;
                    runtime.RetryAfterCrashLoop(instance);
                },
                (this, instance),
                retryIn,
                Timeout.InfiniteTimeSpan));
            return;
        }

        RequestRecycle(partition, instance, RecycleCause.Fault);
    }

    private void RetryAfterCrashLoop(PartitionInstance instance)
    {
        var partition = instance.Owner;
        if (_stopRequested || !partition.IsUnhealthy || partition.Current != instance)
        {
            return;
        }

        Log.CrashLoopRetry(_logger, partition.Id);
        partition.IsUnhealthy = false;
        partition.ResetFailures();
        RequestRecycle(partition, instance, RecycleCause.CrashLoopRetry);
    }

    /// <summary>
    /// Replaces <paramref name="old"/>, if it is still the partition's current instance, once a recycle slot is free.
    /// One recycle of a partition at a time; a manual caller sees its cancellation and waits its turn.
    /// </summary>
    private async Task RecycleCoreAsync(Partition partition, PartitionInstance old, RecycleCause cause, bool manual, CancellationToken cancellationToken)
    {
        var replaced = false;
        try
        {
            await partition.RecycleGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!manual)
        {
            old.EndRecycleAttempt();
            return;
        }

        try
        {
            if (partition.Current != old || !_running || _stopRequested || partition.IsRemoved)
            {
                return;
            }

            if (await ReplaceAsync(partition, old, cause, cancellationToken).ConfigureAwait(false) is not { } next)
            {
                // The host began to stop meanwhile: whoever asked for this recycle learns it did not happen.
                _stopping.Token.ThrowIfCancellationRequested();
                return;
            }

            replaced = true;

            // The new instance's started hooks may have failed: now that it is current, that counts as its fault.
            if (next.StartFailed)
            {
                OnFault(next);
            }
        }
        catch (OperationCanceledException) when (!manual)
        {
        }
        finally
        {
            if (!replaced)
            {
                old.EndRecycleAttempt();
            }

            partition.RecycleGate.Release();
        }
    }

    /// <summary>
    /// Starts a new instance and makes it current; the old one drains in the background. Returns
    /// <see langword="null"/> when the host began to stop meanwhile: the new instance is then disposed, not installed.
    /// </summary>
    private async Task<PartitionInstance?> ReplaceAsync(Partition partition, PartitionInstance old, RecycleCause cause, CancellationToken cancellationToken)
    {
        partition.OnRecycleStarted();
        var slotTaken = false;
        PartitionInstance? next = null;
        try
        {
            await _recycleSlots.WaitAsync(cancellationToken).ConfigureAwait(false);
            slotTaken = true;
            next = CreateInstance(partition, old.Generation + 1);
            await RunStartedHooksAsync(next).ConfigureAwait(false);
            if (_stopRequested)
            {
                // The stop gathers the instances to dispose once the recycles in progress have ended: this one too.
                return null;
            }

            partition.OnRecycled(cause, TimeProvider.GetUtcNow());
            partition.Current = next;
            if (old.Thread is { } oldThread)
            {
                if (cause == RecycleCause.Stalled)
                {
                    // The old thread is stuck in a segment that does not end: what waits on it goes to the new one now
                    // (requests not started yet start over there, now that it is current).
                    oldThread.Abandon(next.Thread);
                }
                else
                {
                    // Continuations still captured on the old thread move on to the new one once it has ended.
                    oldThread.Successor = next.Thread;
                }
            }

            partition.IsStalled = false;
            Metrics.Recycled(partition.Id, cause);
            Log.Recycled(_logger, partition.Id, next.Generation, cause, old.ActiveRequests);

            // The old instance drains in the background, holding the recycle slot, so that recycles stay staggered.
            _retiring[old] = RetireAsync(old);
            return next;
        }
        finally
        {
            var replaced = next is not null && partition.Current == next;
            if (slotTaken && !replaced)
            {
                _recycleSlots.Release();
            }

            partition.OnRecycleEnded();
        }
    }

    /// <summary>
    /// Drains a replaced instance and disposes it. After <c>Recycling:DrainTimeout</c>, what still runs there (a
    /// WebSocket, a stream, a long poll, a stuck request) is aborted and the instance disposed anyway. At shutdown the
    /// stop takes over.
    /// </summary>
    private async Task RetireAsync(PartitionInstance old)
    {
        try
        {
            if (!await WaitIdleAsync(old, _options.Recycling.DrainTimeout, _stopping.Token).ConfigureAwait(false))
            {
                if (_stopping.IsCancellationRequested)
                {
                    return;
                }

                var aborted = old.AbortInFlight();
                Log.RecycleDrainTimedOut(_logger, old.Id, old.Generation, aborted, _options.Recycling.DrainTimeout);
                await WaitIdleAsync(old, s_abortGrace, _stopping.Token).ConfigureAwait(false);
                if (_stopping.IsCancellationRequested)
                {
                    return;
                }
            }

            await DisposeInstanceAsync(old).ConfigureAwait(false);
        }
        finally
        {
            _recycleSlots.Release();
            _retiring.TryRemove(old, out _);
        }
    }

    private async Task<bool> WaitIdleAsync(PartitionInstance instance, TimeSpan timeout, CancellationToken cancellationToken)
    {
        try
        {
            await instance.WhenIdleAsync().WaitAsync(timeout, TimeProvider, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
        {
            return false;
        }
    }
}
