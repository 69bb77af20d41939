using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using PartitionedHosting.Tests.Infrastructure;

namespace PartitionedHosting.Tests.Functional.KeyMap;

/// <summary>Live resizes and slot moves on real Kestrel, under load: every increment counted once, on one owner.</summary>
public sealed class KeyMapResizeTests
{
    [Theory]
    [InlineData("SingleThreaded")]
    [InlineData("FreeThreaded")]
    public async Task ResizeAndHotSlotMove_UnderLoad_KeepEveryCounterExact(string mode)
    {
        // A busy 2-core machine must not make a partition look stalled (which answers 503 too).
        await using var app = await KeyMapTestApp.StartAsync(2, mode, s => s["PartitionedHosting:Watchdog:StallThreshold"] = "00:00:30");
        var manager = app.Services.GetRequiredService<IPartitionManager>();
        var control = app.Services.GetRequiredService<HandoffControl>();
        const int keys = 1_000;
        const int clients = 32;
        var succeeded = new int[keys];
        var unavailable = 0;
        var otherFailures = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var hotSlot = PartitionKeySlots.GetSlot("k0");
        using var stop = new CancellationTokenSource();

        var load = Enumerable.Range(0, clients).Select(async c =>
        {
            await Task.Yield();
            using var client = app.CreateClient();
            var random = new Random(c);
            while (!stop.IsCancellationRequested)
            {
                // A quarter of the requests go to the hot key.
                var key = random.Next(4) == 0 ? 0 : random.Next(keys);
                using var response = await client.PostAsync($"/inc/k{key}", null);
                if (response.IsSuccessStatusCode)
                {
                    Interlocked.Increment(ref succeeded[key]);
                }
                else if (response.StatusCode == HttpStatusCode.ServiceUnavailable && response.Headers.RetryAfter is not null)
                {
                    Interlocked.Increment(ref unavailable);
                }
                else
                {
                    otherFailures.Enqueue($"k{key}: {(int)response.StatusCode}");
                }
            }
        }).ToArray();

        async Task Phase(Func<Task> change)
        {
            var before = succeeded.Sum();
            await change().WaitAsync(KestrelTestApp.Timeout);

            // Load runs on each layout before the next change.
            await KestrelTestApp.WaitUntilAsync(() => succeeded.Sum() > before + 500, "requests were served after the change");
        }

        try
        {
            await Phase(() => Task.CompletedTask);
            await Phase(() => manager.ResizeAsync(4));
            Assert.Equal(4, manager.GetSnapshots().Count);
            await Phase(() => manager.MoveSlotAsync(hotSlot, 2));
            Assert.Equal(2, manager.KeyMap.GetOwner(hotSlot));
            await Phase(() => manager.ResizeAsync(3));
            Assert.Equal(2, manager.KeyMap.GetOwner(hotSlot));
            await Phase(() => manager.ResizeAsync(2));
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAll(load).WaitAsync(KestrelTestApp.Timeout);
        }

        Assert.Empty(otherFailures);
        Assert.True(unavailable == 0, $"{unavailable} requests got 503 while slots moved");
        Assert.True(control.Violations == 0, $"{control.Violations} requests ran off their partition's thread");
        var map = manager.KeyMap;
        Assert.Equal(2, manager.GetSnapshots().Count);
        Assert.All(map.Ranges, r => Assert.InRange(r.Partition, 0, 1));
        Assert.True(map.Version >= 5, $"version {map.Version}");

        // Every key's counter equals its successful increments, and lives on its owner alone.
        using var reader = app.CreateClient();
        var holders = await app.Services.GetRequiredService<PartitionedHosting.IPartitionInvoker>().InvokeAllAsync(
            (p, _) => Task.FromResult(p.Services.GetRequiredService<KeyedState>().Keys()));
        for (var key = 0; key < keys; key++)
        {
            if (succeeded[key] == 0)
            {
                continue;
            }

            Assert.Equal(succeeded[key].ToString(CultureInfo.InvariantCulture), await reader.GetStringAsync($"/count/k{key}"));
            var owner = map.GetOwner($"k{key}");
            Assert.Equal([owner], holders.Select((h, p) => (h, p)).Where(x => x.h.Contains($"k{key}")).Select(x => x.p));
        }
    }

    [Fact]
    public async Task Resize_MovesOnlyTheSlotsWhoseOwnerChanges()
    {
        await using var app = await KeyMapTestApp.StartAsync(2);
        var manager = app.Services.GetRequiredService<IPartitionManager>();
        var before = manager.KeyMap;

        await manager.ResizeAsync(3).WaitAsync(KestrelTestApp.Timeout);
        var after = manager.KeyMap;

        var moved = Enumerable.Range(0, PartitionKeySlots.Count).Where(s => before.GetOwner(s) != after.GetOwner(s)).ToList();
        Assert.All(moved, s => Assert.Equal(2, after.GetOwner(s)));

        // About a third of the slots, as jump consistent hashing promises.
        Assert.InRange(moved.Count, PartitionKeySlots.Count / 3 * 0.9, PartitionKeySlots.Count / 3 * 1.1);
        Assert.Equal(before.Version + 2, after.Version);

        await manager.ResizeAsync(2).WaitAsync(KestrelTestApp.Timeout);
        var back = manager.KeyMap;
        Assert.All(Enumerable.Range(0, PartitionKeySlots.Count), s => Assert.Equal(before.GetOwner(s), back.GetOwner(s)));
    }

    [Fact]
    public async Task Grow_NewPartitionsTakeConnectionsAndKeys_Shrink_LetsTheRemovedPartitionsRequestsFinish_AndClosesItsConnectionsGracefully()
    {
        var stopped = new System.Collections.Concurrent.ConcurrentQueue<int>();
        var slowGate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var settings = Settings.Partitioned(2, "SingleThreaded");

        // Connections that do not close by themselves would hold the removed partition past the test's timeout.
        settings["PartitionedHosting:Recycling:DrainTimeout"] = "00:05:00";
        await using var app = await KestrelTestApp.StartAsync(
            settings,
            a =>
            {
                a.MapGet("/where", (IPartitionContext p) => p.Id.ToString(CultureInfo.InvariantCulture));
                a.MapGet("/slow", async (IPartitionContext p) =>
                {
                    await slowGate.Task;
                    return p.Id.ToString(CultureInfo.InvariantCulture);
                });
            },
            p => p.Services.AddSingleton<IPartitionLifecycleHook>(_ => new StoppingHook(stopped)));
        var manager = app.Services.GetRequiredService<IPartitionManager>();
        await manager.ResizeAsync(3).WaitAsync(KestrelTestApp.Timeout);

        // Round robin over three partitions now: among three new connections, one lands on partition 2.
        var clients = Enumerable.Range(0, 3).Select(_ => app.CreateClient()).ToArray();
        try
        {
            var places = new List<string>();
            foreach (var client in clients)
            {
                places.Add(await client.GetStringAsync("/where"));
            }

            Assert.Contains("2", places);
            Assert.True(manager.KeyMap.CountSlots(2) > 0);
            Assert.Equal(3, manager.GetSnapshots().Sum(p => p.ActiveConnections));

            // A request in flight on the removed partition's connection when the resize removes it.
            var onRemoved = clients[places.IndexOf("2")];
            var slow = onRemoved.GetStringAsync("/slow");
            await KestrelTestApp.WaitUntilAsync(() => manager.GetSnapshots()[2].ActiveRequests == 1, "the slow request runs on partition 2");
            await manager.ResizeAsync(2).WaitAsync(KestrelTestApp.Timeout);
            Assert.Equal(2, manager.GetSnapshots().Count);
            Assert.Equal(0, manager.KeyMap.CountSlots(2));
            Assert.DoesNotContain(2, stopped);

            slowGate.SetResult();
            Assert.Equal("2", await slow.WaitAsync(KestrelTestApp.Timeout));

            // Its connection closes after that response (Connection: close), so the partition is disposed well before
            // RecycleDrainTimeout; the client goes on, on a new connection.
            await KestrelTestApp.WaitUntilAsync(() => stopped.Contains(2), "the removed partition was disposed");
            foreach (var client in clients)
            {
                Assert.Contains(await client.GetStringAsync("/where"), new[] { "0", "1" });
            }
        }
        finally
        {
            foreach (var client in clients)
            {
                client.Dispose();
            }
        }
    }

    [Fact]
    public async Task Resize_RefusesToRemoveADedicatedPartition_AndCountsOutOfRange()
    {
        await using var app = await KeyMapTestApp.StartAsync(3, settings: s => s["PartitionedHosting:Partitions:2:Dedicated"] = "true");
        var manager = app.Services.GetRequiredService<IPartitionManager>();
        var version = manager.KeyMap.Version;

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => manager.ResizeAsync(2));
        Assert.Contains("partition 2 is dedicated", error.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => manager.ResizeAsync(0));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => manager.ResizeAsync(1025));
        await Assert.ThrowsAsync<InvalidOperationException>(() => manager.MoveSlotAsync(0, 2));
        Assert.Equal(version, manager.KeyMap.Version);
        Assert.Equal(3, manager.GetSnapshots().Count);
        Assert.Equal(0, manager.KeyMap.CountSlots(2));
    }

    [Fact]
    public async Task PartitionCount_ChangedByAConfigurationReload_ResizesWhileServing_AndAnInvalidOneIsIgnored()
    {
        await using var app = await KeyMapTestApp.StartAsync(2);
        var manager = app.Services.GetRequiredService<IPartitionManager>();
        var configuration = (Microsoft.Extensions.Configuration.IConfigurationRoot)app.Services.GetRequiredService<Microsoft.Extensions.Configuration.IConfiguration>();
        using var client = app.CreateClient();
        await KeyMapTestApp.PostAsync(client, "/inc/a");

        configuration["PartitionedHosting:PartitionCount"] = "3";
        configuration.Reload();
        await KestrelTestApp.WaitUntilAsync(() => manager.GetSnapshots().Count == 3 && manager.KeyMap.CountSlots(2) > 0, "the reload resized to 3 partitions");

        // An invalid value is logged and ignored; a valid one after it applies.
        configuration["PartitionedHosting:PartitionCount"] = "0";
        configuration.Reload();
        configuration["PartitionedHosting:PartitionCount"] = "2";
        configuration.Reload();
        await KestrelTestApp.WaitUntilAsync(() => manager.GetSnapshots().Count == 2, "the reload resized back to 2 partitions");
        Assert.Equal("1", await client.GetStringAsync("/count/a"));
    }

    private sealed class StoppingHook(System.Collections.Concurrent.ConcurrentQueue<int> stopped) : IPartitionLifecycleHook
    {
        public Task OnStartedAsync(IPartitionContext partition, CancellationToken cancellationToken) => Task.CompletedTask;

        public Task OnStoppingAsync(IPartitionContext partition, CancellationToken cancellationToken)
        {
            stopped.Enqueue(partition.Id);
            return Task.CompletedTask;
        }
    }
}
