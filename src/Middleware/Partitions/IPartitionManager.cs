namespace PartitionedHosting;

/// <summary>Operates the partitions: their state, recycling on demand, and the key map (resizing, moving slots).</summary>
public interface IPartitionManager
{
    /// <summary>A snapshot of every partition, by id.</summary>
    /// <returns>The snapshots.</returns>
    IReadOnlyList<PartitionSnapshot> GetSnapshots();

    /// <summary>
    /// Replaces a partition with a new instance (a new container, and a new thread if single-threaded) without
    /// restarting the process: new requests go to the new instance at once, in-flight ones finish on the old one,
    /// which is then disposed. Waits for a recycle slot (<c>Recycling:MaxConcurrent</c>). Also returns an unhealthy
    /// partition to service.
    /// </summary>
    /// <param name="partitionId">The partition.</param>
    /// <param name="cancellationToken">Stops waiting for a recycle slot.</param>
    /// <returns>A task that completes when the new instance serves (the old one may still be draining).</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="partitionId"/> is not a partition.</exception>
    Task RecycleAsync(int partitionId, CancellationToken cancellationToken = default);

    /// <summary>The key map now: which partition owns each slot, and its version.</summary>
    PartitionKeyMap KeyMap { get; }

    /// <summary>
    /// Changes the number of partitions while serving. New partitions are added at the end and take connections at
    /// once; removed ones are the last, which take nothing new, ask their connections to close after their current
    /// request, drain and are disposed. Only the slots whose owner changes move, each with its state
    /// (<see cref="IPartitionStateHandoff"/>); their requests wait meanwhile, up to <c>HandoffTimeout</c>.
    /// Slots moved by hand stay where they are, unless their partition is removed. A change of
    /// <c>PartitionedHosting:PartitionCount</c> through a configuration reload calls this.
    /// </summary>
    /// <param name="partitionCount">The new number of partitions, from 1 to 1024.</param>
    /// <param name="cancellationToken">Stops waiting for another change of the map to end.</param>
    /// <returns>A task that completes when every slot has its new owner (removed partitions may still be draining).</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="partitionCount"/> is out of range.</exception>
    /// <exception cref="InvalidOperationException">
    /// A partition to remove is dedicated or runs a pinned endpoint; or a state handoff failed (the partitions that
    /// still own slots then stay).
    /// </exception>
    Task ResizeAsync(int partitionCount, CancellationToken cancellationToken = default);

    /// <summary>
    /// Moves one slot to <paramref name="partitionId"/> with its state, for example to give a hot key a partition of
    /// its own (<see cref="PartitionKeySlots.GetSlot(ReadOnlySpan{char})"/> gives a key's slot). A resize leaves
    /// the slot there.
    /// </summary>
    /// <param name="slot">The slot, from 0 to 16383.</param>
    /// <param name="partitionId">The new owner; not a dedicated partition.</param>
    /// <param name="cancellationToken">Stops waiting for another change of the map to end.</param>
    /// <returns>A task that completes when the slot has its new owner.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="slot"/> or <paramref name="partitionId"/> is out of range.</exception>
    /// <exception cref="InvalidOperationException">The partition is dedicated, or the handoff failed (the slot then stays).</exception>
    Task MoveSlotAsync(int slot, int partitionId, CancellationToken cancellationToken = default);
}
