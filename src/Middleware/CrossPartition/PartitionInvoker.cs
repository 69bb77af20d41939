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

        // Counted in the slot until the call ends, which exits it (on every path of Invoke).
        return Invoke(owner, work, cancellationToken, slots, slot);
    }

    private async Task<T> AfterMoveAsync<T>(KeyMap.SlotMove move, int slot, Func<IPartitionContext, CancellationToken, Task<T>> work, CancellationToken cancellationToken)
    {
        if (!await move.WaitAsync().WaitAsync(cancellationToken).ConfigureAwait(false))
        {
            throw new PartitionUnavailableException(move.To.Id, move.To.State, queueFull: false);
        }

        return await InvokeForSlot(slot, work, cancellationToken).ConfigureAwait(false);
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
    /// drain waits for it), then runs it there. A keyed call counted in <paramref name="slot"/> of
    /// <paramref name="slots"/> exits it when it ends, or at once when it does not run.
    /// </summary>
    private static Task<T> Invoke<T>(Partition partition, Func<IPartitionContext, CancellationToken, Task<T>> work, CancellationToken cancellationToken, KeyMap.SlotTable? slots = null, int slot = 0)
    {
        PartitionInstance? instance = null;
        Task<T>? refused = null;
        try
        {
            if (cancellationToken.IsCancellationRequested)
            {
                refused = Task.FromCanceled<T>(cancellationToken);
            }
            else if (!partition.IsServing)
            {
                partition.Runtime.Metrics.RequestRejected(partition.Id, Diagnostics.RejectionReasons.Unavailable);
                refused = Task.FromException<T>(new PartitionUnavailableException(partition.Id, partition.State, queueFull: false));
            }
            else if (!partition.TryAdmit(out instance))
            {
                partition.Runtime.Metrics.RequestRejected(partition.Id, Diagnostics.RejectionReasons.QueueFull);
                refused = Task.FromException<T>(new PartitionUnavailableException(partition.Id, partition.State, queueFull: true));
            }
        }
        catch
        {
            slots?.Exit(slot);
            throw;
        }

        if (refused is not null)
        {
            // The call does not run: the slot is left at once.
            slots?.Exit(slot);
            return refused;
        }

        // Admitted: every other outcome returned above.
        var admitted = instance!;
        var call = slots is null ? new Call<T>(admitted, work, cancellationToken) : new SlotCall<T>(admitted, work, cancellationToken, slots, slot);
        Task<T> task;
        try
        {
            // The call ends (its admission, its slot) where its work completes: see PartitionInstance.InvokeAsync.
            task = admitted.InvokeAsync(Call<T>.RunWork, call, dequeues: admitted.Thread is not null, cancellationToken, Call<T>.EndCall);
        }
        catch
        {
            call.End();
            throw;
        }

        // The caller stops waiting when it cancels, even if the target partition is busy and has not started the work.
        return cancellationToken.CanBeCanceled ? task.WaitAsync(cancellationToken) : task;
    }

    private class Call<T>(PartitionInstance instance, Func<IPartitionContext, CancellationToken, Task<T>> work, CancellationToken cancellationToken)
    {
        public static readonly Func<object, Task<T>> RunWork = static c => ((Call<T>)c).Run();
        public static readonly Action<object> EndCall = static c => ((Call<T>)c).End();

        public Task<T> Run() => work(instance, cancellationToken);

        /// <summary>The call has ended: its admission is released.</summary>
        public virtual void End() => instance.OnRequestCompleted();
    }

    /// <summary>A keyed call, counted in its key's slot until it ends.</summary>
    private sealed class SlotCall<T>(PartitionInstance instance, Func<IPartitionContext, CancellationToken, Task<T>> work, CancellationToken cancellationToken, KeyMap.SlotTable slots, int slot)
        : Call<T>(instance, work, cancellationToken)
    {
        public override void End()
        {
            base.End();
            slots.Exit(slot);
        }
    }
}
