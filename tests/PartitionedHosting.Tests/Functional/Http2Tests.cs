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
}
