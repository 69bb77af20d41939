using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using PartitionedHosting.Partitions;
using PartitionedHosting.Tests.Infrastructure;

namespace PartitionedHosting.Tests.Functional;

/// <summary>HTTP/2 (cleartext, prior knowledge) through the partitioned server.</summary>
public sealed class Http2Tests
{
    [Theory]
    [InlineData("SingleThreaded")]
    [InlineData("FreeThreaded")]
    public async Task Http2_ConcurrentStreamsOfOneConnection_RunOnTheConnectionsPartition(string mode)
    {
        await using var app = await KestrelTestApp.StartAsync(
            Settings.Partitioned(2, mode),
            a => a.MapGet("/h2", async (HttpContext context, IPartitionContext partition) =>
            {
                await Task.Yield();
                var onPartitionThread = partition.Mode == ExecutionMode.FreeThreaded ||
                    ((PartitionInstance)partition).Thread!.ManagedThreadId == Environment.CurrentManagedThreadId;
                return $"{context.Request.Protocol} {partition.Id} {onPartitionThread}";
            }),
            protocols: HttpProtocols.Http2);
        using var client = app.CreateClient(version: HttpVersion.Version20);

        var answers = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => client.GetStringAsync("/h2"))).WaitAsync(KestrelTestApp.Timeout);

        Assert.Single(answers.Distinct());
        Assert.StartsWith("HTTP/2 ", answers[0], StringComparison.Ordinal);
        Assert.EndsWith(" True", answers[0], StringComparison.Ordinal);

        using var second = app.CreateClient(version: HttpVersion.Version20);
        var other = await second.GetStringAsync("/h2");
        Assert.NotEqual(answers[0].Split(' ')[1], other.Split(' ')[1]);
        _ = int.Parse(other.Split(' ')[1], CultureInfo.InvariantCulture);
    }

    [Theory]
    [InlineData("Partitioned", false)]
    [InlineData("Kestrel", false)]
    [InlineData("Partitioned", true)]
    public async Task Http2_AStreamBlockingItsPartition_DoesNotHoldUpAStreamToAnEndpointOutsideThePartitions(string transport, bool fromAnotherConnection)
    {
        // A stream blocks the single-threaded partition's thread until the test lets it go; then another stream, on the
        // same HTTP/2 connection or on one whose requests never enter the partition, asks for an endpoint outside the
        // partitions. Kestrel queues every stream to the thread pool, so the partition's thread gains nothing from reading
        // a connection's frames; if it did, the second stream's headers would wait for the first stream to let go of the
        // thread, which happens only after the second is answered.
        var settings = Settings.Partitioned(1, "SingleThreaded");
        settings["PartitionedHosting:Transport"] = transport;
        var blocking = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var release = new ManualResetEventSlim();
        await using var app = await KestrelTestApp.StartAsync(settings, a =>
        {
            a.MapGet("/block", () =>
            {
                blocking.TrySetResult();
                release.Wait(KestrelTestApp.Timeout);
                return "blocked";
            });
            a.MapGet("/outside", () => "outside").WithoutPartition();
        }, protocols: HttpProtocols.Http2);
        using var client = app.CreateClient(version: HttpVersion.Version20);
        using var blocker = fromAnotherConnection ? app.CreateClient(version: HttpVersion.Version20) : null;
        try
        {
            // The connection is open (and its partition's thread idle) before the blocking stream starts.
            Assert.Equal("outside", await client.GetStringAsync("/outside").WaitAsync(KestrelTestApp.Timeout));
            var blocked = (blocker ?? client).GetStringAsync("/block");
            await blocking.Task.WaitAsync(KestrelTestApp.Timeout);

            Assert.Equal("outside", await client.GetStringAsync("/outside").WaitAsync(TimeSpan.FromSeconds(10)));
            release.Set();
            Assert.Equal("blocked", await blocked.WaitAsync(KestrelTestApp.Timeout));
        }
        finally
        {
            release.Set();
        }
    }
}
