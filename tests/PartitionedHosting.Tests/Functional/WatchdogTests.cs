using System.Diagnostics;
using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using PartitionedHosting.Tests.Infrastructure;

namespace PartitionedHosting.Tests.Functional;

/// <summary>
/// The stalled-partition watchdog, on real Kestrel, with the partition runtime's clock faked: a turn lasts as long as the
/// test says, so that no threshold depends on the machine's speed.
/// </summary>
public sealed class WatchdogTests
{
    private static Dictionary<string, string?> StallSettings(Action<Dictionary<string, string?>>? more = null)
    {
        var settings = Settings.Partitioned(3, "SingleThreaded");
        settings["PartitionedHosting:Watchdog:StallThreshold"] = "00:00:02";
        more?.Invoke(settings);
        return settings;
    }

    /// <summary>Moves the clock in steps until <paramref name="condition"/> holds.</summary>
    private static Task AdvanceUntilAsync(FakeTimeProvider time, Func<bool> condition, string what) =>
        KestrelTestApp.WaitUntilAsync(
            () =>
            {
                time.Advance(TimeSpan.FromMilliseconds(250));
                return condition();
            },
            what);

    private static void MapEndpoints(WebApplication app, ManualResetEventSlim release)
    {
        app.MapGet("/block", () => release.Wait(KestrelTestApp.Timeout) ? "released" : "timed out");
        app.MapGet("/partition", (IPartitionContext p) => p.Id.ToString(CultureInfo.InvariantCulture));
        app.MapGet("/keyed/{key}", (IPartitionContext p) => p.Id.ToString(CultureInfo.InvariantCulture)).WithPartitionKey("key");
        app.MapHealthChecks("/healthz");
    }

    private static async Task<HttpClient> ClientOnPartitionAsync(KestrelTestApp app, string partition)
    {
        var client = app.CreateClient();
        while (await client.GetStringAsync("/partition") != partition)
        {
            client.Dispose();
            client = app.CreateClient();
        }

        return client;
    }

    [Theory]
    [InlineData("Kestrel")]
    [InlineData("Partitioned")]
    public async Task BlockedPartition_IsReportedStalled_OthersKeepServing_ItsTrafficSpreads_AndItRecovers(string transport)
    {
        var time = new FakeTimeProvider();
        using var release = new ManualResetEventSlim();
        await using var app = await KestrelTestApp.StartAsync(
            StallSettings(s => s["PartitionedHosting:Transport"] = transport),
            a => MapEndpoints(a, release),
            configure: b =>
            {
                b.Services.AddHealthChecks().AddPartitionedHostingHealthCheck();
                b.Services.AddSingleton<TimeProvider>(time);
            });
        using var metrics = new MetricRecorder(app.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>());
        var manager = app.Services.GetRequiredService<IPartitionManager>();
        var invoker = app.Services.GetRequiredService<IPartitionInvoker>();
        var keyOf0 = Enumerable.Range(0, 100).Select(i => $"k{i}").First(k => invoker.GetPartitionForKey(k) == 0);
        using var blocked = await ClientOnPartitionAsync(app, "0");
        using var sameConnection = await ClientOnPartitionAsync(app, "0");
        using var other = await ClientOnPartitionAsync(app, "1");

        try
        {
            var blocking = blocked.GetStringAsync("/block");
            await KestrelTestApp.WaitUntilAsync(() => manager.GetSnapshots()[0].ActiveRequests == 1, "partition 0 is blocked");

            // Not stalled until the segment has run past the threshold.
            time.Advance(TimeSpan.FromSeconds(1.5));
            Assert.Equal(PartitionState.Running, manager.GetSnapshots()[0].State);
            await AdvanceUntilAsync(time, () => manager.GetSnapshots()[0].State == PartitionState.Stalled, "partition 0 is reported stalled");

            // The other partitions answer at once; health is degraded; new connections avoid the stalled partition.
            var watch = Stopwatch.StartNew();
            Assert.Equal("1", await other.GetStringAsync("/partition"));
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(1), $"The healthy partition took {watch.Elapsed}.");
            Assert.Equal("Degraded", await other.GetStringAsync("/healthz"));
            using (var fresh = app.CreateClient(newConnectionPerRequest: true))
            {
                for (var i = 0; i < 6; i++)
                {
                    Assert.NotEqual("0", await fresh.GetStringAsync("/partition"));
                }
            }

            // Unkeyed requests of the stalled partition's open connections spread over the others. (With the
            // partitioned transport, the stalled thread does not read its connections: their requests wait.)
            if (transport == "Kestrel")
            {
                var elsewhere = new HashSet<string>();
                for (var i = 0; i < 6; i++)
                {
                    elsewhere.Add(await sameConnection.GetStringAsync("/partition"));
                }

                Assert.Equal(["1", "2"], elsewhere.Order());
            }

            // A key only the stalled partition may serve is refused at once.
            using var keyed = await other.GetAsync($"/keyed/{keyOf0}");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, keyed.StatusCode);
            Assert.NotNull(keyed.Headers.RetryAfter);
            Assert.Contains(metrics.Of("partitionedhosting.rejections"), m => Equals(m.Tags["reason"], "unavailable") && Equals(m.Tags["partition.id"], 0));
            Assert.NotNull(manager.GetSnapshots()[0].StalledForMs);

            release.Set();
            Assert.Equal("released", await blocking.WaitAsync(KestrelTestApp.Timeout));
            await AdvanceUntilAsync(time, () => manager.GetSnapshots()[0].State == PartitionState.Running, "partition 0 recovers");
            Assert.Equal("0", await other.GetStringAsync($"/keyed/{keyOf0}"));
            Assert.Equal("Healthy", await other.GetStringAsync("/healthz"));
        }
        finally
        {
            release.Set();
        }
    }

    [Fact]
    public async Task SyncOverAsyncDeadlock_IsDetected_AndThePartitionReplaced_WhichEndsTheDeadlock()
    {
        var time = new FakeTimeProvider();
        await using var app = await KestrelTestApp.StartAsync(
            StallSettings(s => s["PartitionedHosting:Watchdog:ReplaceStalledAfter"] = "00:00:05"),
            a =>
            {
                a.MapGet("/partition", (IPartitionContext p) => $"{p.Id} {p.Generation}");
                a.MapGet("/deadlock", () =>
                {
                    // Blocks the partition's thread on work that needs the same thread: a deadlock.
                    static async Task<int> NeedsThePartitionThread()
                    {
                        await Task.Delay(10);
                        return 1;
                    }

                    return NeedsThePartitionThread().Result.ToString(CultureInfo.InvariantCulture);
                });
            },
            configure: b => b.Services.AddSingleton<TimeProvider>(time));
        var manager = app.Services.GetRequiredService<IPartitionManager>();
        using var client = await ClientOnPartitionAsync(app, "0 1");
        using var deadlocked = new CancellationTokenSource(TimeSpan.FromSeconds(20));

        var hung = client.GetAsync("/deadlock", deadlocked.Token);
        await KestrelTestApp.WaitUntilAsync(() => manager.GetSnapshots()[0].ActiveRequests == 1, "partition 0 is deadlocked");
        time.Advance(TimeSpan.FromSeconds(4));
        Assert.Equal(1, manager.GetSnapshots()[0].Generation);
        await AdvanceUntilAsync(time, () => manager.GetSnapshots()[0].Generation == 2, "the deadlocked partition is replaced");

        using var after = app.CreateClient(newConnectionPerRequest: true);
        var answers = new HashSet<string>();
        for (var i = 0; i < 4; i++)
        {
            answers.Add(await after.GetStringAsync("/partition"));
        }

        Assert.Contains("0 2", answers);
        Assert.Equal(PartitionState.Running, manager.GetSnapshots()[0].State);
        Assert.Equal(RecycleCause.Stalled, manager.GetSnapshots()[0].LastRecycleCause);

        // The continuation the deadlocked request waited for was queued behind it on the old thread; given up, that
        // thread's queue moved to the new one, which ran it: the deadlock ended, and the request with it.
        using var response = await hung;
        Assert.Equal("1", await response.Content.ReadAsStringAsync());
    }
}
