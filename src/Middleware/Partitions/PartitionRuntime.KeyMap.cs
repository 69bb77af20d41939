using System.Diagnostics;
using System.Runtime.ExceptionServices;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;
using PartitionedHosting.Configuration;
using PartitionedHosting.Diagnostics;
using PartitionedHosting.KeyMap;

namespace PartitionedHosting.Partitions;

/// <summary>The key map of the runtime: its layout, resizes, and slots moved by hand, each with a handoff of state.</summary>
internal sealed partial class PartitionRuntime
{
    // One change of the map at a time: a resize, a move by hand, a stop.
    private readonly SemaphoreSlim _mapGate = new(1, 1);
    private readonly SlotTable _slots = new();
    private readonly HashSet<int> _pinnedPartitions = [];

    // Partitions removed by a resize, still draining: the stop waits for them.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<Partition, Task> _removing = new();
    private IDisposable? _reloadRegistration;

    // The options a configuration reload brought (the partitions it adds take their settings from them).
    private PartitionedHostingOptions? _reloaded;

    public PartitionKeyMap KeyMap => _slots.Snapshot();

    /// <summary>The cluster this process is a node of (<c>PartitionedHosting:Cluster</c>); null when it is not one.</summary>
    public PartitionCluster? Cluster { get; private set; }

    /// <summary>This node's index in <see cref="Cluster"/>.</summary>
    public int SelfNode { get; private set; } = -1;

    /// <summary>Whether this process owns <paramref name="slot"/>: always, unless it is one node of a cluster.</summary>
    public bool OwnsSlot(int slot) => Cluster is not { } cluster || cluster.GetNode(slot) == SelfNode;

    private void BuildCluster(PartitionedHostingOptions options)
    {
        if (options.Cluster.Nodes.Count > 0)
        {
            Cluster = new PartitionCluster([.. options.Cluster.Nodes]);
            SelfNode = PartitionedHostingOptionsValidator.SelfIndex(options.Cluster);
        }
    }

    /// <summary>The live slot table: keyed work enters and exits slots through it.</summary>
    public SlotTable Slots => _slots;

    public async Task ResizeAsync(int partitionCount, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(partitionCount, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(partitionCount, PartitionedHostingDefaults.MaxPartitionCount);
        using var stopping = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping.Token);
        await _mapGate.WaitAsync(stopping.Token).ConfigureAwait(false);
        try
        {
            EnsureChangeable();
            await ResizeCoreAsync(partitionCount, _reloaded ?? _options, stopping.Token).ConfigureAwait(false);
        }
        finally
        {
            _mapGate.Release();
        }
    }

    public async Task MoveSlotAsync(int slot, int partitionId, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(slot);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(slot, PartitionKeySlots.Count);
        using var stopping = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping.Token);
        await _mapGate.WaitAsync(stopping.Token).ConfigureAwait(false);
        try
        {
            EnsureChangeable();
            var partitions = _partitions;
            ArgumentOutOfRangeException.ThrowIfNegative(partitionId);
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(partitionId, partitions.Length);
            var target = partitions[partitionId];
            if (!_general.Contains(target))
            {
                throw new InvalidOperationException($"Partition {partitionId} is dedicated: it owns no keys.");
            }

            var from = _slots.GetOwner(slot);
            if (from == target)
            {
                return;
            }

            if (!await MoveAsync(new SlotMove(from, target, [slot]), byHand: true, stopping.Token).ConfigureAwait(false))
            {
                throw new InvalidOperationException($"Slot {slot} did not move from partition {from.Id} to partition {partitionId}: its requests did not end within HandoffTimeout, or a state handoff failed (logged). It stays on partition {from.Id}.");
            }
        }
        finally
        {
            _mapGate.Release();
        }
    }

    /// <summary>Records the partitions that pinned endpoints run on (<see cref="RunOnPartitionAttribute"/>): a resize cannot remove them.</summary>
    private void PinPartition(int partitionId)
    {
        lock (_pinnedPartitions)
        {
            _pinnedPartitions.Add(partitionId);
        }
    }

    private void EnsureChangeable()
    {
        if (!_running || _stopRequested)
        {
            throw new InvalidOperationException("The partitions are not running: the key map changes between host start and stop.");
        }
    }

    private static Partition[] GeneralPartitions(Partition[] partitions, PartitionedHostingOptions options) =>
        partitions.Any(p => options.IsDedicated(p.Id)) ? [.. partitions.Where(p => !options.IsDedicated(p.Id))] : partitions;

    /// <summary>The owner of every slot by the key policy alone, over <paramref name="general"/>.</summary>
    private Partition[] Layout(Partition[] general)
    {
        var owners = new Partition[PartitionKeySlots.Count];
        for (var slot = 0; slot < owners.Length; slot++)
        {
            var index = _keyPolicy.GetPartition(slot, general.Length);
            if ((uint)index >= (uint)general.Length)
            {
                throw new InvalidOperationException(
                    $"Partition key policy '{_keyPolicy.Name}' returned {index} for slot {slot}; valid values are 0 to {general.Length - 1}.");
            }

            owners[slot] = general[index];
        }

        return owners;
    }

    /// <summary>
    /// Applies changes of <c>PartitionCount</c> from a configuration reload; other settings apply at the next start,
    /// except those of the partitions a resize adds. Reloaded options are validated first: invalid ones are logged and
    /// ignored, and the partitions keep running as they are.
    /// </summary>
    private void WatchPartitionCount()
    {
        if (_services.GetService<IConfiguration>() is not { } configuration)
        {
            return;
        }

        _reloadRegistration = ChangeToken.OnChange(configuration.GetReloadToken, OnConfigurationReloaded);
    }

    private void OnConfigurationReloaded()
    {
        if (_stopRequested)
        {
            return;
        }

        PartitionedHostingOptions options;
        try
        {
            options = _services.GetRequiredService<IOptionsFactory<PartitionedHostingOptions>>().Create(Options.DefaultName);
        }
        catch (Exception ex)
        {
            // Never out of the reload's callback (a file watcher's thread): the partitions keep running as they are.
            Log.ReloadedOptionsInvalid(_logger, ex.Message);
            return;
        }

        if (options.PartitionCount != _partitions.Length)
        {
            _reloaded = options;
            _ = ResizeOnReloadAsync(options.PartitionCount);
        }
    }

    private async Task ResizeOnReloadAsync(int partitionCount)
    {
        try
        {
            Log.ResizeRequested(_logger, _partitions.Length, partitionCount);
            await ResizeAsync(partitionCount).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_stopRequested)
        {
        }
        catch (Exception ex)
        {
            Log.ResizeFailed(_logger, partitionCount, ex);
        }
    }

    /// <summary>
    /// Adds partitions at the end (they take connections at once), or marks the last ones removed (they take nothing
    /// new); moves the slots whose owner changes, each group with its state; then retires the removed partitions.
    /// </summary>
    private async Task ResizeCoreAsync(int count, PartitionedHostingOptions options, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var partitions = _partitions;
        var previous = partitions.Length;
        if (count == previous)
        {
            return;
        }

        if (count > previous)
        {
            var added = new Partition[count - previous];
            for (var i = 0; i < added.Length; i++)
            {
                var partition = added[i] = new Partition(this, previous + i, options.GetMode(previous + i));
                partition.Current = CreateInstance(partition, generation: 1, options);
            }

            await Task.WhenAll(added.Select(p => RunStartedHooksAsync(p.Current))).ConfigureAwait(false);
            partitions = _partitions = [.. partitions, .. added];
            _general = GeneralPartitions(partitions, options);
        }
        else
        {
            var refused = partitions[count..].Where(p => !_general.Contains(p) || IsPinned(p.Id)).Select(p => p.Id).ToList();
            if (refused.Count > 0)
            {
                throw new InvalidOperationException(
                    $"Cannot resize to {count} partitions: partition {string.Join(", ", refused)} is dedicated or runs a pinned endpoint (RunOnPartition), and a resize removes the last partitions.");
            }

            if (_general.Count(p => p.Id < count) == 0)
            {
                throw new InvalidOperationException($"Cannot resize to {count} partitions: none of them would own keys (the others are dedicated).");
            }

            foreach (var partition in partitions[count..])
            {
                partition.IsRemoved = true;
            }

            _general = [.. _general.Where(p => p.Id < count)];
        }

        // Only the slots whose owner changes move; slots moved by hand stay where they are, if that partition stays.
        List<SlotMove> moves = [];
        bool[] moved;
        try
        {
            var layout = Layout(_general);
            moves = [.. Enumerable.Range(0, PartitionKeySlots.Count)
                .Select(slot => (Slot: slot, From: _slots.GetOwner(slot), To: layout[slot]))
                .Where(m => m.From != m.To && !(_slots.IsMovedByHand(m.Slot) && !m.From.IsRemoved))
                .GroupBy(m => (m.From, m.To), m => m.Slot)
                .Select(g => new SlotMove(g.Key.From, g.Key.To, [.. g]))];
            moved = await Task.WhenAll(moves.Select(m => MoveAsync(m, byHand: false, cancellationToken))).ConfigureAwait(false);
        }
        catch when (count < previous)
        {
            // Called off (the host stops): the partitions to remove stay, with the slots they still own.
            foreach (var partition in partitions[count..])
            {
                partition.IsRemoved = false;
            }

            _general = GeneralPartitions(partitions, options);
            throw;
        }

        var failed = moved.Count(m => !m);
        if (count < previous)
        {
            // A removed partition whose handoff failed still owns slots: it stays, and so do those before it.
            var kept = Enumerable.Range(count, previous - count).Where(id => _slots.OwnsAny(partitions[id])).Select(id => id + 1).DefaultIfEmpty(count).Max();
            foreach (var partition in partitions[count..kept])
            {
                partition.IsRemoved = false;
            }

            _general = GeneralPartitions(partitions[..kept], options);
            _partitions = partitions[..kept];
            _slots.ForgetMovesTo(id => id >= kept);
            foreach (var removed in partitions[kept..])
            {
                _removing[removed] = RemoveAsync(removed);
            }

            if (kept != count)
            {
                throw new InvalidOperationException(
                    $"Resized to {kept} partitions instead of {count}: {failed} of {moves.Count} slot moves failed (logged), and the partitions that still own slots stay.");
            }
        }
        else if (failed > 0)
        {
            throw new InvalidOperationException(
                $"Resized to {count} partitions, but {failed} of {moves.Count} slot moves failed (logged): those slots stay with their old owners.");
        }

        Log.Resized(_logger, previous, count, moves.Sum(m => m.Slots.Length), Stopwatch.GetElapsedTime(started).TotalMilliseconds);
    }

    private bool IsPinned(int partitionId)
    {
        lock (_pinnedPartitions)
        {
            return _pinnedPartitions.Contains(partitionId);
        }
    }

    /// <summary>
    /// Moves a group of slots from one partition to another: marks them moving (new work for them waits), waits for
    /// their work in flight to end, hands their state over, then, on the owner that keeps them, switches the map and
    /// lets the waiting work in, in arrival order. Returns false when the move failed and the slots stayed with their
    /// old owner, state included: their work did not end within <c>HandoffTimeout</c>, or a handoff threw. Cancelled
    /// (the host stops), the slots stay too, and the cancellation propagates.
    /// </summary>
    private async Task<bool> MoveAsync(SlotMove move, bool byHand, CancellationToken cancellationToken)
    {
        var timeout = _options.HandoffTimeout;
        _slots.BeginMove(move);
        var ended = false;
        try
        {
            using var deadline = TimeProvider.CreateTimer(static m => ((SlotMove)m!).Expire(), move, timeout, Timeout.InfiniteTimeSpan);
            if (!await DrainAsync(move, timeout, cancellationToken).ConfigureAwait(false))
            {
                Log.HandoffDrainTimedOut(_logger, move.From.Id, move.To.Id, move.Slots.Length, _slots.CountWorkInFlight(move), timeout);
                await FinishAsync(move, move.From, byHand, timeout).ConfigureAwait(false);
                ended = true;
                return false;
            }

            var owner = move.To;
            try
            {
                await HandOverAsync(move, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                Log.HandoffFailed(_logger, move.From.Id, move.To.Id, move.Slots.Length, ex);
                owner = move.From;
            }

            await FinishAsync(move, owner, byHand, timeout).ConfigureAwait(false);
            ended = true;
            if (owner == move.To)
            {
                Metrics.SlotsMoved(move.To.Id, move.Slots.Length);
            }

            return owner == move.To;
        }
        finally
        {
            if (!ended)
            {
                // Cancelled: the slots stay where their state is, and what waits goes on there.
                Finish(move, move.From, byHand);
            }
        }
    }

    /// <summary>
    /// Waits until no work counted into the move's slots is left, then closes the drain (work of the old owner's own
    /// thread can no longer join it); false after <paramref name="timeout"/>.
    /// </summary>
    private async Task<bool> DrainAsync(SlotMove move, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var started = TimeProvider.GetTimestamp();
        while (true)
        {
            var pulsed = move.Pulsed;
            if (!_slots.HasWorkInFlight(move))
            {
                move.CloseDrain();

                // Work that joined the drain meanwhile (SlotTable.TryJoinDrain) keeps it open.
                if (!_slots.HasWorkInFlight(move))
                {
                    return true;
                }

                move.ReopenDrain();
                continue;
            }

            var left = timeout - TimeProvider.GetElapsedTime(started);
            if (left <= TimeSpan.Zero)
            {
                return false;
            }

            try
            {
                await pulsed.WaitAsync(left, TimeProvider, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                return false;
            }
        }
    }

    /// <summary>
    /// Switches the map to <paramref name="owner"/> and lets the waiting work in, on the owner (so that it starts there
    /// in arrival order); here when the owner does not take the switch within <paramref name="timeout"/> (its thread
    /// is stalled).
    /// </summary>
    private async Task FinishAsync(SlotMove move, Partition owner, bool byHand, TimeSpan timeout)
    {
        var finish = owner.Current.InvokeAsync(
            static s =>
            {
                var (runtime, move, owner, byHand) = ((PartitionRuntime, SlotMove, Partition, bool))s;
                runtime.Finish(move, owner, byHand);
                return Task.CompletedTask;
            },
            (this, move, owner, byHand));
        try
        {
            await finish.WaitAsync(timeout, TimeProvider).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            Finish(move, owner, byHand);
        }
    }

    /// <summary>Ends a move, once: the map then names <paramref name="owner"/>, and what waits is released.</summary>
    private void Finish(SlotMove move, Partition owner, bool byHand)
    {
        if (move.TryEnd())
        {
            _slots.EndMove(move, owner, byHand);
            move.Release();
        }
    }

    /// <summary>
    /// Exports the slots' state from the old owner and imports it into the new one, through every
    /// <see cref="IPartitionStateHandoff"/> (the same registrations on both sides, in order). When an import fails,
    /// what was exported is imported back into the old owner before the failure propagates.
    /// </summary>
    private async Task HandOverAsync(SlotMove move, CancellationToken cancellationToken)
    {
        var from = move.From.Current;
        var to = move.To.Current;

        // Resolved and run on each partition's thread, where partition-local services live.
        var states = await from.InvokeAsync(
            static async s =>
            {
                var (partition, slots, cancellationToken) = ((PartitionInstance, IReadOnlySet<int>, CancellationToken))s;
                var exporters = partition.Services.GetServices<IPartitionStateHandoff>().ToArray();
                var states = new object?[exporters.Length];
                for (var i = 0; i < exporters.Length; i++)
                {
                    states[i] = await exporters[i].ExportAsync(partition, slots, cancellationToken);
                }

                return states;
            },
            (from, move.SlotSet, cancellationToken),
            dequeues: false,
            cancellationToken).ConfigureAwait(false);
        if (states.Length == 0)
        {
            return;
        }

        try
        {
            await Import(to, states, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            try
            {
                // Not cancellable: the state must go back where it came from.
                await Import(from, states, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception back)
            {
                Log.HandoffStateLost(_logger, move.From.Id, move.To.Id, move.Slots.Length, back);
            }

            ExceptionDispatchInfo.Throw(ex);
        }

        Task Import(PartitionInstance instance, object?[] states, CancellationToken token) => instance.InvokeAsync(
            static async s =>
            {
                var (partition, slots, states, cancellationToken) = ((PartitionInstance, IReadOnlySet<int>, object?[], CancellationToken))s;
                var importers = partition.Services.GetServices<IPartitionStateHandoff>().ToArray();
                for (var i = 0; i < importers.Length; i++)
                {
                    await importers[i].ImportAsync(partition, slots, states[i], cancellationToken);
                }
            },
            (instance, move.SlotSet, states, token));
    }

    /// <summary>
    /// Retires a partition removed by a resize: once no recycle of it is under way, its connections are asked to close
    /// after their current request, and its requests and connections get <c>Recycling:DrainTimeout</c> to end (then what
    /// is left is aborted); then it is disposed.
    /// </summary>
    private async Task RemoveAsync(Partition partition)
    {
        var gate = false;
        try
        {
            await partition.RecycleGate.WaitAsync(_stopping.Token).ConfigureAwait(false);
            gate = true;
            var instance = partition.Current;
            var connections = partition.CloseConnections();
            Log.PartitionRemoved(_logger, partition.Id, connections, instance.ActiveRequests);
            var started = TimeProvider.GetTimestamp();
            var drained = await WaitIdleAsync(instance, _options.Recycling.DrainTimeout, _stopping.Token).ConfigureAwait(false);
            _stopping.Token.ThrowIfCancellationRequested();
            while (partition.ActiveConnections > 0 && TimeProvider.GetElapsedTime(started) < _options.Recycling.DrainTimeout)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(20), TimeProvider, _stopping.Token).ConfigureAwait(false);
            }

            if (!drained || partition.ActiveConnections > 0)
            {
                var aborted = instance.AbortInFlight();
                Log.RecycleDrainTimedOut(_logger, partition.Id, instance.Generation, aborted + partition.ActiveConnections, _options.Recycling.DrainTimeout);
                partition.AbortConnections();
                await WaitIdleAsync(instance, s_abortGrace, _stopping.Token).ConfigureAwait(false);
            }

            await DisposeInstanceAsync(instance).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
            // The stop disposes it.
        }
        finally
        {
            if (gate)
            {
                partition.RecycleGate.Release();
            }

            _removing.TryRemove(partition, out _);
        }
    }
}
