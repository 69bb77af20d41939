using System.Diagnostics.Metrics;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using PartitionedHosting.Tests.Infrastructure;

namespace PartitionedHosting.Tests.Functional;

/// <summary>Metrics, the diagnostics endpoint and health, through real requests.</summary>
public sealed class ObservabilityTests
{
    [Fact]
    public async Task Metrics_CountRequestsRejectionsRecyclesAndTurns_PerPartition()
    {
        using var release = new ManualResetEventSlim();
        await using var app = await KestrelTestApp.StartAsync(
            Settings.KestrelTransport(Settings.Partitioned(1, "SingleThreaded", maxQueueLength: 1)),
            a =>
            {
                a.MapGet("/ok", () => "ok");
                a.MapGet("/block", () => release.Wait(KestrelTestApp.Timeout) ? "released" : "timed out");
            });
        using var metrics = new MetricRecorder(app.Services.GetRequiredService<IMeterFactory>());
        var partition = app.Runtime.Partitions[0];
        var clients = Enumerable.Range(0, 3).Select(_ => app.CreateClient()).ToList();
        try
        {
            for (var i = 0; i < 5; i++)
            {
                await clients[0].GetStringAsync("/ok");
            }

            var blocking = clients[0].GetStringAsync("/block");
            await KestrelTestApp.WaitUntilAsync(() => partition.ActiveRequests == 1 && partition.QueueLength == 0, "the blocking request runs");
            var queued = clients[1].GetStringAsync("/ok");
            await KestrelTestApp.WaitUntilAsync(() => partition.QueueLength == 1, "a request waits");
            using var rejected = await clients[2].GetAsync("/ok");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, rejected.StatusCode);

            metrics.ObserveGauges();
            release.Set();
            await Task.WhenAll(blocking, queued).WaitAsync(KestrelTestApp.Timeout);
            await app.Services.GetRequiredService<IPartitionManager>().RecycleAsync(0).WaitAsync(KestrelTestApp.Timeout);
        }
        finally
        {
            release.Set();
            clients.ForEach(c => c.Dispose());
        }

        Assert.Equal(7, metrics.Of("partitionedhosting.requests").Where(m => Equals(m.Tags["partition.id"], 0)).Sum(m => m.Value));
        var rejection = Assert.Single(metrics.Of("partitionedhosting.rejections"));
        Assert.Equal("queue_full", rejection.Tags["reason"]);
        var recycle = Assert.Single(metrics.Of("partitionedhosting.recycles"));
        Assert.Equal("Manual", recycle.Tags["cause"]);
        Assert.Contains(metrics.Of("partitionedhosting.turn_duration"), m => m.Value > 0);
        Assert.Contains(metrics.Of("partitionedhosting.active_requests"), m => m.Value == 2 && Equals(m.Tags["partition.id"], 0));
        Assert.Contains(metrics.Of("partitionedhosting.queue_length"), m => m.Value == 1);
        Assert.Contains(metrics.Of("partitionedhosting.connections"), m => m.Value == 3);
    }
}
