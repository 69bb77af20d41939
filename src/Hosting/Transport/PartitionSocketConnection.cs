using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using PartitionedHosting.Execution;
using PartitionedHosting.Partitions;

namespace PartitionedHosting.Transport;

/// <summary>
/// A TCP connection whose pipes resume in its partition: on the partition's thread for a single-threaded partition,
/// so that the server's parsing, the request code and the socket I/O of the connection all run on that one thread
/// (thread per core), without a hop per request.
/// </summary>
/// <remarks>
/// The receive loop runs wherever the socket completes (the I/O thread with
/// <c>DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1</c>, else the thread pool): it hands what it received to the input
/// pipe, whose reader (Kestrel's parser, then the request) resumes on the partition's current thread. The send loop
/// resumes there too when the server flushes. Neither loop captures a partition thread, so a recycle, even of a
/// partition whose thread is stuck, moves the connection to the new instance: the pipes schedule on whichever instance
/// is current.
/// <para>
/// As Kestrel's socket transport: an idle connection waits for data with a zero-byte receive and holds no buffer
/// (<c>WaitForDataBeforeAllocatingBuffer</c>); buffers come from the listener's memory pool; the reader pauses at
/// <c>MaxReadBufferSize</c> and the server's writes at <c>MaxWriteBufferSize</c>; a response in several segments goes
/// out in one gathered send.
/// </para>
/// </remarks>
internal sealed class PartitionSocketConnection : ConnectionContext, IDuplexPipe,
    IConnectionIdFeature, IConnectionItemsFeature, IConnectionLifetimeFeature, IConnectionTransportFeature, IConnectionEndPointFeature,
    IMemoryPoolFeature, IConnectionScheduling
{
    private const int MinimumSegmentSize = 4096;

    // The features the connection itself implements: answered from it, without an entry per connection.
    private static readonly Type[] s_ownFeatures =
        [typeof(IConnectionIdFeature), typeof(IConnectionItemsFeature), typeof(IConnectionLifetimeFeature), typeof(IConnectionTransportFeature), typeof(IConnectionEndPointFeature), typeof(IMemoryPoolFeature)];

    private readonly Socket _socket;
    private readonly PartitionSocketConnectionSettings _settings;
    private readonly PartitionConnectionScheduler _scheduler;
    private readonly int _minimumSegmentSize;
    private List<ArraySegment<byte>>? _gathered;
    private readonly Pipe _input;
    private readonly PipeReader _reader;
    private readonly Pipe _output;
    private readonly CancellationTokenSource _closed = new();
    private readonly TaskCompletionSource _loopsEnded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private IDictionary<object, object?>? _items;
    private int _loops = 2;
    private int _aborted;
    private int _disposed;

    public PartitionSocketConnection(Socket socket, Partition partition, string connectionId, PartitionSocketConnectionSettings settings)
    {
        _socket = socket;
        _settings = settings;
        _minimumSegmentSize = Math.Min(MinimumSegmentSize, settings.Pool.MaxBufferSize);
        ConnectionId = connectionId;
        LocalEndPoint = socket.LocalEndPoint;
        RemoteEndPoint = socket.RemoteEndPoint;

        // Input: the receive loop writes (resuming on the thread pool when the parser frees room), the server reads in
        // the partition. Output: the server writes in the partition, and so does the send loop read, right after it.
        // Both move to the thread pool if the connection turns out to carry HTTP/2 streams.
        var scheduler = _scheduler = new PartitionConnectionScheduler(partition.PipeScheduler);
        _input = new Pipe(new PipeOptions(
            settings.Pool, readerScheduler: scheduler, writerScheduler: PipeScheduler.ThreadPool,
            pauseWriterThreshold: settings.MaxReadBufferSize, resumeWriterThreshold: settings.MaxReadBufferSize / 2,
            minimumSegmentSize: _minimumSegmentSize, useSynchronizationContext: false));
        _output = new Pipe(new PipeOptions(
            settings.Pool, readerScheduler: scheduler, writerScheduler: scheduler,
            pauseWriterThreshold: settings.MaxWriteBufferSize, resumeWriterThreshold: settings.MaxWriteBufferSize / 2,
            minimumSegmentSize: _minimumSegmentSize, useSynchronizationContext: false));

        // A single-threaded partition's server reads on the partition's thread, its connection's first request included.
        _reader = partition.Mode == ExecutionMode.SingleThreaded ? new PartitionInputReader(_input.Reader, partition) : _input.Reader;

        Features = new ConnectionFeatures(this, s_ownFeatures);
        Features.Set<IPartitionFeature>(new ConnectionPartition(partition, this));
    }

    public override string ConnectionId { get; set; }

    /// <inheritdoc/>
    /// <remarks>Called once, by the connection's <see cref="ConnectionPartition"/>.</remarks>
    public void LeavePartitionThread()
    {
        _scheduler.UseThreadPool();
        PartitionedTransportLog.ConnectionLeftPartitionThread(_settings.Logger, ConnectionId);
    }

    /// <summary>The listener's pool, for the server's own buffers of this connection (HTTP/2 frames, TLS), as Kestrel's transport gives.</summary>
    public MemoryPool<byte> MemoryPool => _settings.Pool;

    public override IFeatureCollection Features { get; }

    public override IDictionary<object, object?> Items
    {
        get => _items ??= new Dictionary<object, object?>();
        set => _items = value;
    }

    public override IDuplexPipe Transport { get; set; } = null!;

    public override CancellationToken ConnectionClosed
    {
        get => _closed.Token;
        set => throw new NotSupportedException();
    }

    public override EndPoint? LocalEndPoint { get; set; }

    public override EndPoint? RemoteEndPoint { get; set; }

    PipeReader IDuplexPipe.Input => _reader;

    PipeWriter IDuplexPipe.Output => _output.Writer;

    /// <summary>Starts the receive and send loops.</summary>
    public void Start()
    {
        Transport = this;

        // Not in the execution context of the accept loop: each loop is a flow of its own.
        using (ExecutionContext.SuppressFlow())
        {
            _ = ReceiveAsync();
            _ = SendAsync();
        }
    }

    public override void Abort(ConnectionAbortedException abortReason)
    {
        if (Interlocked.Exchange(ref _aborted, 1) == 0)
        {
            // Ends both loops: the receive fails, the send loop's read is cancelled.
            Shutdown();
            _output.Reader.CancelPendingRead();
        }
    }

    public override async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _input.Reader.CompleteAsync().ConfigureAwait(false);
        await _output.Writer.CompleteAsync().ConfigureAwait(false);
        await _loopsEnded.Task.ConfigureAwait(false);
        _socket.Dispose();

        // _closed is not disposed: its cancellation (which also counts the connection out of its partition) is queued
        // to the thread pool and may run after this point; a token source without a timer holds nothing to dispose.
    }

    private async Task ReceiveAsync()
    {
        var writer = _input.Writer;
        Exception? error = null;
        try
        {
            while (true)
            {
                if (_settings.WaitForData)
                {
                    // Wait for data before taking a buffer: an idle connection holds none.
                    await _socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None).ConfigureAwait(false);
                }

                var received = await _socket.ReceiveAsync(writer.GetMemory(_minimumSegmentSize), SocketFlags.None).ConfigureAwait(false);
                if (received == 0)
                {
                    PartitionedTransportLog.ConnectionReadFin(_settings.Logger, ConnectionId);
                    break;
                }

                writer.Advance(received);
                var flushing = writer.FlushAsync();
                var paused = !flushing.IsCompleted;
                if (paused)
                {
                    PartitionedTransportLog.ConnectionPause(_settings.Logger, ConnectionId);
                }

                var flush = await flushing.ConfigureAwait(false);
                if (paused)
                {
                    PartitionedTransportLog.ConnectionResume(_settings.Logger, ConnectionId);
                }

                if (flush.IsCompleted || flush.IsCanceled)
                {
                    break;
                }
            }
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted or SocketError.Shutdown)
        {
            if (Volatile.Read(ref _aborted) == 1)
            {
                error = new ConnectionAbortedException();
            }
            else
            {
                PartitionedTransportLog.ConnectionReset(_settings.Logger, ConnectionId);
                error = new ConnectionResetException(ex.Message, ex);
            }
        }
        catch (Exception ex) when (ex is ObjectDisposedException || Volatile.Read(ref _aborted) == 1)
        {
            error = new ConnectionAbortedException();
        }
        catch (Exception ex)
        {
            PartitionedTransportLog.ConnectionError(_settings.Logger, ConnectionId, ex);
            error = ex;
        }
        finally
        {
            await writer.CompleteAsync(error).ConfigureAwait(false);

            // The client is gone (or the connection aborted): requests in flight see RequestAborted.
            ThreadPool.UnsafeQueueUserWorkItem(static c => ((CancellationTokenSource)c!).Cancel(), _closed, preferLocal: false);
            LoopEnded();
        }
    }

    private async Task SendAsync()
    {
        var reader = _output.Reader;
        Exception? error = null;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync().ConfigureAwait(false);
                if (result.IsCanceled)
                {
                    break;
                }

                var buffer = result.Buffer;
                if (buffer.IsSingleSegment)
                {
                    await _socket.SendAsync(buffer.First, SocketFlags.None).ConfigureAwait(false);
                }
                else if (!buffer.IsEmpty)
                {
                    await SendGatheredAsync(buffer).ConfigureAwait(false);
                }

                reader.AdvanceTo(buffer.End);
                if (result.IsCompleted)
                {
                    break;
                }
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            error = new ConnectionAbortedException(ex.Message, ex);
        }
        catch (Exception ex)
        {
            PartitionedTransportLog.ConnectionError(_settings.Logger, ConnectionId, ex);
            error = ex;
        }
        finally
        {
            PartitionedTransportLog.ConnectionWriteFin(_settings.Logger, ConnectionId, error?.Message ?? "The server closed the connection.");
            await reader.CompleteAsync(error).ConfigureAwait(false);

            // Nothing more will be sent: close the socket, which also ends the receive loop.
            Shutdown();
            LoopEnded();
        }
    }

    /// <summary>Sends a response of several segments in one system call, as Kestrel's socket sender does.</summary>
    private async ValueTask SendGatheredAsync(ReadOnlySequence<byte> buffer)
    {
        var segments = _gathered ??= [];
        segments.Clear();
        foreach (var memory in buffer)
        {
            if (!MemoryMarshal.TryGetArray(memory, out var array))
            {
                // Not array-backed (a custom pool): one send per segment.
                segments.Clear();
                foreach (var segment in buffer)
                {
                    await _socket.SendAsync(segment, SocketFlags.None).ConfigureAwait(false);
                }

                return;
            }

            segments.Add(array);
        }

        var sent = await _socket.SendAsync(segments, SocketFlags.None).ConfigureAwait(false);
        segments.Clear();
        if (sent < buffer.Length)
        {
            foreach (var rest in buffer.Slice(sent))
            {
                await _socket.SendAsync(rest, SocketFlags.None).ConfigureAwait(false);
            }
        }
    }

    private void Shutdown()
    {
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
        }
    }

    private void LoopEnded()
    {
        if (Interlocked.Decrement(ref _loops) == 0)
        {
            _loopsEnded.TrySetResult();
        }
    }
}
