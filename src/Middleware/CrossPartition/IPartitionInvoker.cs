namespace PartitionedHosting;

/// <summary>
/// Runs code on another partition, with that partition's services, and returns its result: by partition id, on the
/// owner of a key, or on every partition at once (fan-out). Inject it anywhere (request code, hosted services).
/// </summary>
/// <remarks>
/// The work runs as request code of the target partition does: on its thread for a single-threaded partition (so it
/// may touch that partition's state without locks), on the thread pool for a free-threaded one. A caller on a
/// single-threaded partition's thread is not blocked while it awaits: its thread keeps serving its own requests,
/// so two partitions calling each other do not deadlock. A call to the caller's own partition runs inline.
/// Exceptions thrown by the work, and its cancellation, propagate to the caller.
/// </remarks>
public interface IPartitionInvoker
{
    /// <summary>The number of partitions now (a resize changes it).</summary>
    int PartitionCount { get; }

    /// <summary>The id of the partition that owns <paramref name="key"/> now, by the key map (its old owner while its slot moves).</summary>
    /// <param name="key">A partition key.</param>
    /// <returns>The owner's id.</returns>
    int GetPartitionForKey(string key);

    /// <summary>Runs <paramref name="work"/> on partition <paramref name="partitionId"/>.</summary>
    /// <typeparam name="T">The work's result.</typeparam>
    /// <param name="partitionId">The target partition, from 0 to <see cref="PartitionCount"/> - 1.</param>
    /// <param name="work">The work; it receives the target partition and <paramref name="cancellationToken"/>.</param>
    /// <param name="cancellationToken">Cancels the call: the work does not start, or receives it.</param>
    /// <returns>The work's result.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="partitionId"/> is not a partition.</exception>
    /// <exception cref="InvalidOperationException">The partitions are not running.</exception>
    Task<T> InvokeAsync<T>(int partitionId, Func<IPartitionContext, CancellationToken, Task<T>> work, CancellationToken cancellationToken = default);

    /// <summary>
    /// Runs <paramref name="work"/> on the partition that owns <paramref name="key"/>, counted in the key's slot as a
    /// keyed request is: while the slot moves, the call waits for the move and runs on the new owner (after
    /// <c>HandoffTimeout</c> it fails with <see cref="PartitionUnavailableException"/>).
    /// </summary>
    /// <typeparam name="T">The work's result.</typeparam>
    /// <param name="key">A partition key.</param>
    /// <param name="work">The work; it receives the owner partition and <paramref name="cancellationToken"/>.</param>
    /// <param name="cancellationToken">
    /// Cancels the call: the caller stops waiting at once. Work that already runs stays counted in the key's slot until
    /// it ends (a move of the slot waits for it, at most the key map's handoff timeout), so it should pass the token on.
    /// </param>
    /// <returns>The work's result.</returns>
    Task<T> InvokeForKeyAsync<T>(string key, Func<IPartitionContext, CancellationToken, Task<T>> work, CancellationToken cancellationToken = default);

    /// <summary>Runs <paramref name="work"/> on every partition at once and returns the results by partition id.</summary>
    /// <typeparam name="T">The work's result.</typeparam>
    /// <param name="work">The work; it receives each partition and <paramref name="cancellationToken"/>.</param>
    /// <param name="cancellationToken">Cancels the calls.</param>
    /// <returns>The results, indexed by partition id.</returns>
    Task<T[]> InvokeAllAsync<T>(Func<IPartitionContext, CancellationToken, Task<T>> work, CancellationToken cancellationToken = default);
}
