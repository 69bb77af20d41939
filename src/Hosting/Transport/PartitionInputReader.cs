using System.IO.Pipelines;
using System.Runtime.ExceptionServices;
using System.Threading.Tasks.Sources;
using PartitionedHosting.Partitions;

namespace PartitionedHosting.Transport;

/// <summary>
/// The input of a connection of a single-threaded partition, as the server reads it: the connection's pipe, except
/// that the connection's first read, made off the partition's thread, is made on it instead, and resumes the server
/// there.
/// </summary>
/// <remarks>
/// Kestrel starts a connection on the thread pool. When the client's first request has already arrived by then, the
/// first read completes at once, there, and the request would be parsed on the thread pool and hop into the partition.
/// Made on the partition's thread, it is parsed there and runs at once, as every later request does (their reads
/// resume on the partition through the pipe's scheduler). Later reads pass through untouched: one made off the thread
/// then is request code of another partition reading its body, which must go on where it runs.
/// </remarks>
internal sealed class PartitionInputReader(PipeReader inner, Partition partition) : PipeReader, IValueTaskSource<ReadResult>
{
    private static readonly Action<object?> s_readOnPartition = static s => ((PartitionInputReader)s!).ReadOnPartition();
    private static readonly Action<object?> s_resume = static s => ((PartitionInputReader)s!).Resume();

    // The first read: made on the partition's thread, and the server resumed there. Until the server has awaited it, it
    // reports itself pending even once read: a read that completed before the server awaited it would otherwise let the
    // server go on, synchronously, on the thread-pool thread that started the connection.
    private const int Reading = 0, Read = 1, Awaited = 2;
    private int _state;
    private bool _resumed;
    private ReadResult _result;
    private ExceptionDispatchInfo? _error;
    private Action<object?>? _continuation;
    private object? _continuationState;
    private ExecutionContext? _executionContext;
    private CancellationToken _cancellationToken;
    private bool _readStarted;

    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        if (_readStarted)
        {
            return inner.ReadAsync(cancellationToken);
        }

        _readStarted = true;
        if (partition.Current.Thread is not { IsCurrent: false })
        {
            return inner.ReadAsync(cancellationToken);
        }

        _cancellationToken = cancellationToken;
        partition.PipeScheduler.Schedule(s_readOnPartition, this);
        return new ValueTask<ReadResult>(this, 0);
    }

    public override bool TryRead(out ReadResult result) => inner.TryRead(out result);

    public override void AdvanceTo(SequencePosition consumed) => inner.AdvanceTo(consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined) => inner.AdvanceTo(consumed, examined);

    public override void CancelPendingRead() => inner.CancelPendingRead();

    public override void Complete(Exception? exception = null) => inner.Complete(exception);

    public override ValueTask CompleteAsync(Exception? exception = null) => inner.CompleteAsync(exception);

    ReadResult IValueTaskSource<ReadResult>.GetResult(short token)
    {
        if (!Volatile.Read(ref _resumed))
        {
            throw new InvalidOperationException("The connection's first read completes only for an awaiter (await it, or use AsTask).");
        }

        _error?.Throw();
        return _result;
    }

    ValueTaskSourceStatus IValueTaskSource<ReadResult>.GetStatus(short token) =>
        !Volatile.Read(ref _resumed) ? ValueTaskSourceStatus.Pending
        : _error is null ? ValueTaskSourceStatus.Succeeded
        : _error.SourceException is OperationCanceledException ? ValueTaskSourceStatus.Canceled
        : ValueTaskSourceStatus.Faulted;

    void IValueTaskSource<ReadResult>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
    {
        _continuation = continuation;
        _continuationState = state;
        _executionContext = (flags & ValueTaskSourceOnCompletedFlags.FlowExecutionContext) != 0 ? ExecutionContext.Capture() : null;
        if (Interlocked.CompareExchange(ref _state, Awaited, Reading) == Read)
        {
            // Read before the server awaited it: the server still resumes on the partition, not here.
            partition.PipeScheduler.Schedule(s_resume, this);
        }
    }

    private void ReadOnPartition()
    {
        ValueTask<ReadResult> read;
        try
        {
            read = inner.ReadAsync(_cancellationToken);
        }
        catch (Exception error)
        {
            Finish(default, error);
            return;
        }

        if (read.IsCompleted)
        {
            Finish(read);
        }
        else
        {
            // Resumes on the partition through the pipe's scheduler (PostAction, a turn that may run its first request
            // inline), whatever the pipe's useSynchronizationContext.
            try
            {
                read.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(() => Finish(read));
            }
            catch (Exception error)
            {
                Finish(default, error);
            }
        }
    }

    private void Finish(ValueTask<ReadResult> read)
    {
        // The outcome first, then Finish outside the try: Finish may resume the server, whose exceptions are not the read's.
        ReadResult result = default;
        Exception? error = null;
        try
        {
            result = read.Result;
        }
        catch (Exception readError)
        {
            error = readError;
        }

        Finish(result, error);
    }

    private void Finish(ReadResult result, Exception? error)
    {
        _result = result;
        _error = error is null ? null : ExceptionDispatchInfo.Capture(error);
        if (Interlocked.CompareExchange(ref _state, Read, Reading) == Awaited)
        {
            Resume();
        }
    }

    /// <summary>Runs the server's continuation, here: on the partition's thread.</summary>
    private void Resume()
    {
        Volatile.Write(ref _resumed, true);
        if (_executionContext is { } context)
        {
            ExecutionContext.Run(context, static s => ((PartitionInputReader)s!).RunContinuation(), this);
        }
        else
        {
            RunContinuation();
        }
    }

    private void RunContinuation() => _continuation!(_continuationState);
}
