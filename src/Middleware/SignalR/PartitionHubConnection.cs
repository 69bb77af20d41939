using System.IO.Pipelines;
using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;
using PartitionedHosting.Execution;

namespace PartitionedHosting.SignalR;

/// <summary>
/// A SignalR connection as its hub's application sees it in a single-threaded partition: the same connection, whose
/// input's pending reads resume through the partition's synchronization context, so that the message loop, and the
/// hub code it calls, come back to the partition's thread after every read that waited.
/// </summary>
/// <remarks>
/// SignalR's pipes are created with <c>useSynchronizationContext: false</c>: an await of their <c>ReadAsync</c> resumes
/// on the thread pool, whatever context the caller had. A pending read is therefore handed back as a task, whose await
/// does post to the caller's context. The transport is read from the inner connection each time, because a stateful
/// reconnect replaces it.
/// </remarks>
internal sealed class PartitionHubConnection(ConnectionContext inner, PartitionThread thread) : ConnectionContext
{
    private readonly Pipe _transport = new(inner, thread);

    public override IDuplexPipe Transport
    {
        get => _transport;
        set => inner.Transport = value;
    }

    public override string ConnectionId
    {
        get => inner.ConnectionId;
        set => inner.ConnectionId = value;
    }

    public override IFeatureCollection Features => inner.Features;

    public override IDictionary<object, object?> Items
    {
        get => inner.Items;
        set => inner.Items = value;
    }

    public override CancellationToken ConnectionClosed
    {
        get => inner.ConnectionClosed;
        set => inner.ConnectionClosed = value;
    }

    public override EndPoint? LocalEndPoint
    {
        get => inner.LocalEndPoint;
        set => inner.LocalEndPoint = value;
    }

    public override EndPoint? RemoteEndPoint
    {
        get => inner.RemoteEndPoint;
        set => inner.RemoteEndPoint = value;
    }

    public override void Abort() => inner.Abort();

    public override void Abort(ConnectionAbortedException abortReason) => inner.Abort(abortReason);

    public override ValueTask DisposeAsync() => inner.DisposeAsync();

    private sealed class Pipe(ConnectionContext connection, PartitionThread thread) : IDuplexPipe
    {
        private readonly Reader _input = new(connection, thread);

        public PipeReader Input => _input;

        public PipeWriter Output => connection.Transport.Output;
    }

    private sealed class Reader(ConnectionContext connection, PartitionThread thread) : PipeReader
    {
        private PipeReader Inner => connection.Transport.Input;

        public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
        {
            var read = Inner.ReadAsync(cancellationToken);
            return read.IsCompleted || !thread.IsCurrent ? read : new ValueTask<ReadResult>(read.AsTask());
        }

        public override bool TryRead(out ReadResult result) => Inner.TryRead(out result);

        public override void AdvanceTo(SequencePosition consumed) => Inner.AdvanceTo(consumed);

        public override void AdvanceTo(SequencePosition consumed, SequencePosition examined) => Inner.AdvanceTo(consumed, examined);

        public override void CancelPendingRead() => Inner.CancelPendingRead();

        public override void Complete(Exception? exception = null) => Inner.Complete(exception);

        public override ValueTask CompleteAsync(Exception? exception = null) => Inner.CompleteAsync(exception);
    }
}
