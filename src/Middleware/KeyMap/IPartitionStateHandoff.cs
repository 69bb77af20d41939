namespace PartitionedHosting;

/// <summary>
/// Moves partition-local state with the slots it belongs to, when slots change owner (a resize, a move by hand).
/// Register it as a partition-local service (in the <c>AddPartitionedHosting</c> callback), next to the state it moves.
/// </summary>
/// <remarks>
/// <para>
/// While slots move, no request of theirs runs: the old owner's requests for them have ended, and new ones wait
/// (up to <c>HandoffTimeout</c>). <see cref="ExportAsync"/> then runs on the old owner (on its thread, when
/// single-threaded) and <see cref="ImportAsync"/> on the new owner with what it returned, so state needs no lock.
/// The waiting requests then run on the new owner, in arrival order.
/// </para>
/// <para>
/// When an export throws, the slots stay with their old owner. When an import throws, the state is imported back into
/// the old owner, which keeps the slots. Either way the move fails, and is logged.
/// </para>
/// <para>
/// Use <see cref="PartitionKeySlots.GetSlot(ReadOnlySpan{char})"/> to tell which keys belong to the moving slots.
/// </para>
/// </remarks>
public interface IPartitionStateHandoff
{
    /// <summary>Removes the state of <paramref name="slots"/> from the old owner and returns it.</summary>
    /// <param name="partition">The old owner.</param>
    /// <param name="slots">The slots that move.</param>
    /// <param name="cancellationToken">Cancelled when the host stops.</param>
    /// <returns>The state, given as is to <see cref="ImportAsync"/>.</returns>
    ValueTask<object?> ExportAsync(IPartitionContext partition, IReadOnlySet<int> slots, CancellationToken cancellationToken);

    /// <summary>Adds the state of <paramref name="slots"/> to the new owner.</summary>
    /// <param name="partition">The new owner.</param>
    /// <param name="slots">The slots that move.</param>
    /// <param name="state">What <see cref="ExportAsync"/> returned.</param>
    /// <param name="cancellationToken">Cancelled when the host stops.</param>
    /// <returns>A task that completes when the state is in place.</returns>
    ValueTask ImportAsync(IPartitionContext partition, IReadOnlySet<int> slots, object? state, CancellationToken cancellationToken);
}
