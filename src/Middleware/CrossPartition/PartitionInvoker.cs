using PartitionedHosting.Execution;
using PartitionedHosting.Partitions;

namespace PartitionedHosting.CrossPartition;

internal sealed class PartitionInvoker(PartitionRuntime runtime) : IPartitionInvoker
{
    public int PartitionCount => Running.Count;

    private IReadOnlyList<Partition> Running => runtime.IsRunning
        ? runtime.Partitions
        : throw new InvalidOperationException("The partitions are not running: cross-partition calls are possible between host start and stop.");

    public int GetPartitionForKey(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        _ = Running;
        return runtime.GetOwner(key).Id;
    }

    public Task<T> InvokeAsync<T>(int partitionId, Func<IPartitionContext, CancellationToken, Task<T>> work, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(work);
        var partitions = Running;
        ArgumentOutOfRangeException.ThrowIfNegative(partitionId);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(partitionId, partitions.Count);
        return Invoke(partitions[partitionId], work, cancellationToken);
    }

    public Task<T> InvokeForKeyAsync<T>(string key, Func<IPartitionContext, CancellationToken, Task<T>> work, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(work);
        _ = Running;
        return InvokeForSlot(PartitionKeySlots.GetSlot(key), work, cancellationToken);
    }

    /// <summary>Runs the call on the slot's owner, counted in the slot until it ends; while the slot moves, after the move.</summary>
    private Task<T> InvokeForSlot<T>(int slot, Func<IPartitionContext, CancellationToken, Task<T>> work, CancellationToken cancellationToken)
    {
        var slots = runtime.Slots;
        if (slots.TryEnter(slot, out var move) is not { } owner)
        {
            // A call from the old owner's own thread while the move drains is made on behalf of work the move waits
            // for (a keyed request calling for a key of a slot moving with its own): it joins the drain, on the old
            // owner, instead of waiting for a move that waits for it.
            if (move!.IsDraining && PartitionThread.Current is { } thread && thread == move.From.Current.Thread && slots.TryJoinDrain(slot, move))
            {
                owner = move.From;
            }
            else
            {
                return AfterMoveAsync(move, slot, work, cancellationToken);
            }
        }

        Task<T> call;
        try
        {
            call = Invoke(owner, work, cancellationToken);
        }
        catch
        {
            slots.Exit(slot);
            throw;
        }

        if (call.IsCompleted)
        {
            slots.Exit(slot);
            return call;
        }

        return ExitWhenDoneAsync(call, slots, slot);
    }

    private async Task<T> AfterMoveAsync<T>(KeyMap.SlotMove move, int slot, Func<IPartitionContext, CancellationToken, Task<T>> work, CancellationToken cancellationToken)
    {
        if (!await move.WaitAsync().WaitAsync(cancellationToken).ConfigureAwait(false))
        {
            throw new PartitionUnavailableException(move.To.Id, move.To.State, queueFull: false);
        }

        return await InvokeForSlot(slot, work, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<T> ExitWhenDoneAsync<T>(Task<T> call, KeyMap.SlotTable slots, int slot)
    {
        try
        {
            return await call.ConfigureAwait(false);
        }
        finally
        {
            slots.Exit(slot);
        }
    }

    public Task<T[]> InvokeAllAsync<T>(Func<IPartitionContext, CancellationToken, Task<T>> work, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(work);
        var partitions = Running;
        var calls = new Task<T>[partitions.Count];
        for (var i = 0; i < calls.Length; i++)
        {
            calls[i] = Invoke(partitions[i], work, cancellationToken);
        }

        return Task.WhenAll(calls);
    }

    /// <summary>
    /// Admits the call as a request of the partition (bounded by its queue, counted until it ends, so that a recycle's
    /// drain waits for it), then runs it there.
    /// </summary>
    private static Task<T> Invoke<T>(Partition partition, Func<IPartitionContext, CancellationToken, Task<T>> work, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled<T>(cancellationToken);
        }

        if (!partition.IsServing)
        {
            partition.Runtime.Metrics.RequestRejected(partition.Id, Diagnostics.RejectionReasons.Unavailable);
            return Task.FromException<T>(new PartitionUnavailableException(partition.Id, partition.State, queueFull: false));
        }

        if (!partition.TryAdmit(out var instance))
        {
            partition.Runtime.Metrics.RequestRejected(partition.Id, Diagnostics.RejectionReasons.QueueFull);
            return Task.FromException<T>(new PartitionUnavailableException(partition.Id, partition.State, queueFull: true));
        }

        Task<T> call;
        try
        {
            call = instance.InvokeAsync(static s => ((Call<T>)s).Run(), new Call<T>(instance, work, cancellationToken), dequeues: instance.Thread is not null, cancellationToken, endsRequest: true);
        }
        catch
        {
            instance.OnRequestCompleted();
            throw;
        }

        // The caller stops waiting when it cancels, even if the target partition is busy and has not started the work.
        return cancellationToken.CanBeCanceled ? call.WaitAsync(cancellationToken) : call;
    }

    private sealed record Call<T>(PartitionInstance Partition, Func<IPartitionContext, CancellationToken, Task<T>> Work, CancellationToken CancellationToken)
    {
        public Task<T> Run() => Work(Partition, CancellationToken);
    }
}
