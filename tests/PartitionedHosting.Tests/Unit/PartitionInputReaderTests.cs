using System.IO.Pipelines;
using PartitionedHosting.Tests.Infrastructure;
using PartitionedHosting.Transport;

namespace PartitionedHosting.Tests.Unit;

/// <summary>The Partitioned transport's first read of a connection: made on the partition's thread, and resumed there.</summary>
public sealed class PartitionInputReaderTests
{
    [Fact]
    public async Task AFirstReadDoneBeforeTheServerAwaitsIt_StillResumesTheServerOnThePartitionsThread()
    {
        // The request has arrived; the server (on the thread pool, as Kestrel starts a connection) asks for it, and the
        // partition's thread reads it before the server awaits the read. The server must go on on the partition's thread,
        // not synchronously where it asked: there it would parse the request off the partition and hop in.
        await using var app = await KestrelTestApp.StartAsync(Settings.Partitioned(1, "SingleThreaded"), _ => { });
        var partition = app.Runtime.Partitions[0];
        var thread = partition.Thread!;
        var pipe = new Pipe();
        await pipe.Writer.WriteAsync("GET / HTTP/1.1\r\n\r\n"u8.ToArray());

        var resumedOnPartition = await Task.Run(async () =>
        {
            var reader = new PartitionInputReader(pipe.Reader, partition);
            var read = reader.ReadAsync();

            // Work posted after the read runs after it (one queue, in order): once it has run, the read is done.
            var readDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            thread.Post(_ => readDone.SetResult(), null);
            await readDone.Task.WaitAsync(KestrelTestApp.Timeout).ConfigureAwait(false);

            var result = await read.ConfigureAwait(false);
            var onPartition = thread.IsCurrent;
            reader.AdvanceTo(result.Buffer.End);
            return onPartition;
        }).WaitAsync(KestrelTestApp.Timeout);

        Assert.True(resumedOnPartition, "The server went on on the thread that asked for the read, not on the partition's thread.");
    }
}
