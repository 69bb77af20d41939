using System.IO.Pipelines;
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

    // Completed on the partition's thread, with the server's continuation run there, inline.
    private ManualResetValueTaskSourceCore<ReadResult> _source;
    private CancellationToken _cancellationToken;
    private bool _read;

    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        if (_read)
        {
            return inner.ReadAsync(cancellationToken);
        }

        _read = true;
        if (partition.Current.Thread is not { IsCurrent: false })
        {
            return inner.ReadAsync(cancellationToken);
        }

        _source.Reset();
        _cancellationToken = cancellationToken;
        partition.PipeScheduler.Schedule(s_readOnPartition, this);
        return new ValueTask<ReadResult>(this, _source.Version);
    }

    public override bool TryRead(out ReadResult result) => inner.TryRead(out result);

    public override void AdvanceTo(SequencePosition consumed) => inner.AdvanceTo(consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined) => inner.AdvanceTo(consumed, examined);

    public override void CancelPendingRead() => inner.CancelPendingRead();

    public override void Complete(Exception? exception = null) => inner.Complete(exception);

    public override ValueTask CompleteAsync(Exception? exception = null) => inner.CompleteAsync(exception);

    ReadResult IValueTaskSource<ReadResult>.GetResult(short token) => _source.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<ReadResult>.GetStatus(short token) => _source.GetStatus(token);

    void IValueTaskSource<ReadResult>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _source.OnCompleted(continuation, state, token, flags);

    private void ReadOnPartition()
    {
        ValueTask<ReadResult> read;
        try
        {
            read = inner.ReadAsync(_cancellationToken);
        }
        catch (Exception error)
        {
            _source.SetException(error);
            return;
        }

        if (read.IsCompleted)
        {
            Complete(read);
        }
        else
        {
            // Resumes on the partition through the pipe's scheduler.
            var awaiter = read.GetAwaiter();
            awaiter.UnsafeOnCompleted(() => Complete(read));
        }
    }

    private void Complete(ValueTask<ReadResult> read)
    {
        try
        {
            _source.SetResult(read.Result);
        }
        catch (Exception error)
        {
            _source.SetException(error);
        }
    }
}
