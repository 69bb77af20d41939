using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using PartitionedHosting.Partitions;
using PartitionedHosting.Tests.Infrastructure;

namespace PartitionedHosting.Tests.Functional;

/// <summary>Replacing partitions in-process: on demand, after a number of requests, after a lifetime.</summary>
public sealed class RecyclingTests
{
    public sealed class Tracked : IDisposable
    {
        private static int s_created;

        public int Instance { get; } = Interlocked.Increment(ref s_created);

        public int Disposed { get; private set; }

        public static ConcurrentBag<Tracked> All { get; } = [];

        public void Dispose() => Disposed++;
    }

    private static void MapEndpoints(WebApplication app, Task gate) =>
        app.MapGet("/state", async (IPartitionContext partition, Tracked tracked, HttpContext context) =>
        {
            if (context.Request.Query.ContainsKey("wait"))
            {
                await gate;
            }

            return $"{partition.Id} {partition.Generation} {tracked.Instance}";
        });

    private static void AddTracked(IPartitionBuilder partition) =>
        partition.Services.AddSingleton(_ =>
        {
            var tracked = new Tracked();
            Tracked.All.Add(tracked);
            return tracked;
        });

    [Fact]
    public async Task RecycleOnDemand_NewRequestsGoToTheNewInstance_InFlightOnesFinishOnTheOld_WhichIsThenDisposed()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var app = await KestrelTestApp.StartAsync(Settings.Partitioned(1, "SingleThreaded"), a => MapEndpoints(a, gate.Task), AddTracked);
        var manager = app.Services.GetRequiredService<IPartitionManager>();
        using var client = app.CreateClient();
        using var waiting = app.CreateClient();

        var before = (await client.GetStringAsync("/state")).Split(' ');
        var inFlight = waiting.GetStringAsync("/state?wait=1");
        await KestrelTestApp.WaitUntilAsync(() => manager.GetSnapshots()[0].ActiveRequests == 1, "a request is in flight");

        await manager.RecycleAsync(0).WaitAsync(KestrelTestApp.Timeout);
        var after = (await client.GetStringAsync("/state")).Split(' ');

        Assert.Equal(["0", "1"], before[..2]);
        Assert.Equal(["0", "2"], after[..2]);
        Assert.NotEqual(before[2], after[2]);
        var old = Tracked.All.Single(t => t.Instance.ToString(CultureInfo.InvariantCulture) == before[2]);
        Assert.Equal(0, old.Disposed);

        gate.SetResult();
        Assert.Equal($"0 1 {before[2]}", await inFlight.WaitAsync(KestrelTestApp.Timeout));
        await KestrelTestApp.WaitUntilAsync(() => old.Disposed == 1, "the old instance is disposed after it drained");
        var snapshot = manager.GetSnapshots()[0];
        Assert.Equal(RecycleCause.Manual, snapshot.LastRecycleCause);
        Assert.Equal(1, snapshot.Recycles);
    }

    [Fact]
    public async Task RecyclingAfterRequests_UnderLoad_FailsNoRequest()
    {
        var settings = Settings.Partitioned(2, "SingleThreaded");
        settings["PartitionedHosting:Recycling:AfterRequests"] = "150";
        settings["PartitionedHosting:Recycling:MaxConcurrent"] = "1";
        await using var app = await KestrelTestApp.StartAsync(settings, a => MapEndpoints(a, Task.CompletedTask), AddTracked);
        var manager = app.Services.GetRequiredService<IPartitionManager>();
        var statuses = new ConcurrentBag<HttpStatusCode>();
        var served = new ConcurrentDictionary<string, int>();

        var clients = Enumerable.Range(0, 6).Select(_ => app.CreateClient()).ToList();
        try
        {
            using var load = new CancellationTokenSource(TimeSpan.FromSeconds(3));
            await Task.WhenAll(clients.Select(async client =>
            {
                while (!load.IsCancellationRequested)
                {
                    using var response = await client.GetAsync("/state");
                    statuses.Add(response.StatusCode);
                    var parts = (await response.Content.ReadAsStringAsync()).Split(' ');
                    served.AddOrUpdate($"{parts[0]} {parts[1]}", 1, (_, n) => n + 1);
                }
            })).WaitAsync(KestrelTestApp.Timeout);
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
        }

        Assert.All(statuses, s => Assert.Equal(HttpStatusCode.OK, s));
        Assert.All(manager.GetSnapshots(), s => Assert.True(s.Generation >= 2, $"partition {s.Id} was not recycled"));
        Assert.All(manager.GetSnapshots(), s => Assert.Equal(RecycleCause.Requests, s.LastRecycleCause));

        // A replaced generation served at least its 150 requests less the 10 % jitter; more when it had to wait for
        // the other partition's recycle to finish (one at a time).
        foreach (var snapshot in manager.GetSnapshots())
        {
            for (var generation = 1; generation < snapshot.Generation; generation++)
            {
                Assert.True(served[$"{snapshot.Id} {generation}"] >= 135, $"generation {generation} of partition {snapshot.Id} served {served[$"{snapshot.Id} {generation}"]}");
            }
        }

        await KestrelTestApp.WaitUntilAsync(
            () => Tracked.All.Count(t => t.Disposed == 1) >= served.Count - 2,
            "every replaced instance is disposed");
    }

    [Fact]
    public async Task RecyclingAfterALifetime_ReplacesThePartition_WithinItsJitter()
    {
        var time = new FakeTimeProvider();
        var settings = Settings.Partitioned(1, "FreeThreaded");
        settings["PartitionedHosting:Recycling:After"] = "00:10:00";
        settings["PartitionedHosting:Recycling:Jitter"] = "0.1";
        await using var app = await KestrelTestApp.StartAsync(
            settings,
            a => MapEndpoints(a, Task.CompletedTask),
            AddTracked,
            b => b.Services.AddSingleton<TimeProvider>(time));
        var manager = app.Services.GetRequiredService<IPartitionManager>();

        // Not before 9 minutes (10 minus 10 %), and by 11 at the latest. The watchdog ticks within Advance.
        time.Advance(TimeSpan.FromMinutes(8.9));
        Assert.False(app.Runtime.Partitions[0].Current.IsRecycleRequested);
        time.Advance(TimeSpan.FromMinutes(2.2));
        await KestrelTestApp.WaitUntilAsync(() => manager.GetSnapshots()[0] is { Generation: 2, Recycles: 1 }, "a lifetime passes");

        Assert.Equal(RecycleCause.Lifetime, manager.GetSnapshots()[0].LastRecycleCause);
        using var client = app.CreateClient();
        Assert.StartsWith("0 ", await client.GetStringAsync("/state"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task LifecycleHooks_RunOnThePartitionThread_AtStartAndBeforeDisposal()
    {
        var events = new ConcurrentQueue<string>();
        await using var app = await KestrelTestApp.StartAsync(
            Settings.Partitioned(1, "SingleThreaded"),
            _ => { },
            p => p.Services.AddSingleton<IPartitionLifecycleHook>(_ => new RecordingHook(events)));
        var manager = app.Services.GetRequiredService<IPartitionManager>();

        await manager.RecycleAsync(0).WaitAsync(KestrelTestApp.Timeout);
        await KestrelTestApp.WaitUntilAsync(() => events.Count == 3, "the old instance stopped");

        Assert.Equal(["started 1 True", "started 2 True", "stopping 1 True"], events);
    }

    private sealed class RecordingHook(ConcurrentQueue<string> events) : IPartitionLifecycleHook
    {
        public Task OnStartedAsync(IPartitionContext partition, CancellationToken cancellationToken) => Record("started", partition);

        public Task OnStoppingAsync(IPartitionContext partition, CancellationToken cancellationToken) => Record("stopping", partition);

        private Task Record(string what, IPartitionContext partition)
        {
            events.Enqueue($"{what} {partition.Generation} {((PartitionInstance)partition).Thread!.ManagedThreadId == Environment.CurrentManagedThreadId}");
            return Task.CompletedTask;
        }
    }
}
