using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using PartitionedHosting.Tests.Infrastructure;

namespace PartitionedHosting.Tests.Functional;

/// <summary>Per-partition bounds: concurrency, queue length, queue wait; and that one flooded partition spares the others.</summary>
public sealed class AdmissionControlTests
{
    [Fact]
    public async Task FloodedPartition_Answers503_WhileAnotherPartitionKeepsAnsweringQuickly()
    {
        await using var app = await KestrelTestApp.StartAsync(
            new Dictionary<string, string?>(Settings.Partitioned(2, "SingleThreaded"))
            {
                // A short queue for the partition of the hot key; the others keep the default.
                ["PartitionedHosting:Partitions:0:MaxQueueLength"] = "4",
            },
            a =>
            {
                // 20 ms of CPU on the owner's thread per request: a hot key saturates its partition.
                a.MapGet("/work/{key}", (string key) =>
                {
                    var spin = Stopwatch.StartNew();
                    while (spin.ElapsedMilliseconds < 20)
                    {
                        Thread.SpinWait(100);
                    }

                    return "done";
                }).WithPartitionKey("key");
                a.MapGet("/partition", (IPartitionContext p) => p.Id.ToString(CultureInfo.InvariantCulture));
            });
        var invoker = app.Services.GetRequiredService<IPartitionInvoker>();
        var hotKey = Enumerable.Range(0, 100).Select(i => $"hot-{i}").First(k => invoker.GetPartitionForKey(k) == 0);

        // A probe on a connection of the cold partition.
        var probe = app.CreateClient();
        while (await probe.GetStringAsync("/partition") != "1")
        {
            probe.Dispose();
            probe = app.CreateClient();
        }

        using (probe)
        {
            using var flooding = new CancellationTokenSource(TimeSpan.FromSeconds(3));
            var statuses = new System.Collections.Concurrent.ConcurrentBag<(HttpStatusCode Status, bool RetryAfter)>();
            var flooders = Enumerable.Range(0, 16).Select(async _ =>
            {
                using var client = app.CreateClient();
                while (!flooding.IsCancellationRequested)
                {
                    using var response = await client.GetAsync($"/work/{hotKey}");
                    statuses.Add((response.StatusCode, response.Headers.RetryAfter is not null));
                }
            }).ToList();

            await KestrelTestApp.WaitUntilAsync(() => statuses.Any(s => s.Status == HttpStatusCode.ServiceUnavailable), "the hot partition rejects");
            var latencies = new List<TimeSpan>();
            for (var i = 0; i < 40; i++)
            {
                var watch = Stopwatch.StartNew();
                Assert.Equal("1", await probe.GetStringAsync("/partition"));
                latencies.Add(watch.Elapsed);
            }

            await Task.WhenAll(flooders).WaitAsync(KestrelTestApp.Timeout);

            Assert.Contains(statuses, s => s.Status == HttpStatusCode.OK);
            Assert.All(statuses.Where(s => s.Status != HttpStatusCode.OK), s => Assert.Equal((HttpStatusCode.ServiceUnavailable, true), s));
            latencies.Sort();
            var p90 = latencies[(int)(latencies.Count * 0.9)];

            // The hot partition's requests take 20 ms each, with a queue of 4: waiting behind them would take ~100 ms.
            Assert.True(p90 < TimeSpan.FromMilliseconds(100), $"The cold partition's p90 latency was {p90.TotalMilliseconds} ms.");
        }
    }

    [Theory]
    [InlineData("FreeThreaded")]
    [InlineData("SingleThreaded")]
    public async Task ConcurrencyBound_QueuesThenRejects(string mode)
    {
        // Free-threaded: requests running in parallel; single-threaded: requests interleaved at their awaits.
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var settings = Settings.KestrelTransport(Settings.Partitioned(1, mode, maxQueueLength: 1));
        settings["PartitionedHosting:Admission:MaxConcurrentRequests"] = "2";
        await using var app = await KestrelTestApp.StartAsync(settings, a => a.MapGet("/gated", async () =>
        {
            await gate.Task;
            return "ok";
        }));
        var partition = app.Runtime.Partitions[0];
        using var metrics = new MetricRecorder(app.Services.GetRequiredService<IMeterFactory>());
        var clients = Enumerable.Range(0, 4).Select(_ => app.CreateClient()).ToList();
        try
        {
            // One after the other: a single-threaded partition's queue of one holds a request until its thread starts it.
            var running = new List<Task<string>>();
            foreach (var client in clients.Take(2))
            {
                running.Add(client.GetStringAsync("/gated"));
                var expected = running.Count;
                await KestrelTestApp.WaitUntilAsync(() => partition.ActiveRequests == expected && partition.QueueLength == 0, $"{expected} requests run");
            }

            var queued = clients[2].GetStringAsync("/gated");
            await KestrelTestApp.WaitUntilAsync(() => partition.ActiveRequests == 3, "a third request waits for a permit");

            using var rejected = await clients[3].GetAsync("/gated");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, rejected.StatusCode);
            Assert.NotNull(rejected.Headers.RetryAfter);
            Assert.False(queued.IsCompleted);

            // Refused at once because the queue is full: not a wait that ran past MaxQueueWait.
            Assert.Equal("queue_full", Assert.Single(metrics.Of("partitionedhosting.rejections")).Tags["reason"]);

            // Counted in the partition's snapshot too: the diagnostics endpoint and its dashboard show it.
            var snapshots = app.Services.GetRequiredService<IPartitionManager>().GetSnapshots();
            Assert.Equal(1, Assert.Single(snapshots).Rejections);

            gate.SetResult();
            Assert.Equal(["ok", "ok", "ok"], await Task.WhenAll([.. running, queued]).WaitAsync(KestrelTestApp.Timeout));
        }
        finally
        {
            gate.TrySetResult();
            clients.ForEach(c => c.Dispose());
        }
    }

    [Theory]
    [InlineData("Partitioned")]
    [InlineData("Kestrel")]
    public async Task RequestsThatStartOnTheirPartitionsThread_TakeNoPlaceInTheQueue(string transport)
    {
        // Six new connections at once on one single-threaded partition whose queue holds one request, each request
        // holding the thread for a while. Over the Partitioned transport a connection's request is read and run on the
        // partition's thread, at once, its first one included (Kestrel starts the connection on the thread pool, where
        // the request has often arrived already): none waits in the queue, so none is refused. Over Kestrel's, they hop
        // in and wait there: past the one place, 503.
        var settings = Settings.Partitioned(1, "SingleThreaded", maxQueueLength: 1);
        settings["PartitionedHosting:Transport"] = transport;
        var queuedWhileRunning = 0;
        await using var app = await KestrelTestApp.StartAsync(settings, a => a.MapGet("/busy", (IPartitionContext partition) =>
        {
            queuedWhileRunning = Math.Max(queuedWhileRunning, ((PartitionedHosting.Partitions.PartitionInstance)partition).QueueLength);
            Thread.Sleep(200);
            return "done";
        }));
        var clients = Enumerable.Range(0, 6).Select(_ => app.CreateClient()).ToList();
        try
        {
            using var metrics = new MetricRecorder(app.Services.GetRequiredService<IMeterFactory>());
            var responses = await Task.WhenAll(clients.Select(c => c.GetAsync("/busy"))).WaitAsync(KestrelTestApp.Timeout);
            var statuses = responses.Select(r => r.StatusCode).ToList();
            responses.ToList().ForEach(r => r.Dispose());

            if (transport == "Partitioned")
            {
                Assert.All(statuses, s => Assert.Equal(HttpStatusCode.OK, s));
                Assert.Equal(0, queuedWhileRunning);
                Assert.Empty(metrics.Of("partitionedhosting.rejections"));
            }
            else
            {
                Assert.Contains(HttpStatusCode.ServiceUnavailable, statuses);
                Assert.NotEmpty(metrics.Of("partitionedhosting.rejections"));
            }
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
        }
    }

    [Fact]
    public async Task RequestWaitingForAPermit_WhenItsInstanceIsReplaced_IsServedByTheNewInstance()
    {
        // The permit wait ends (MaxQueueWait) while a recycle drains the instance: the request is admitted again, on the
        // instance that replaced it, instead of being refused.
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var settings = Settings.KestrelTransport(Settings.Partitioned(1, "FreeThreaded"));
        settings["PartitionedHosting:Admission:MaxConcurrentRequests"] = "1";
        settings["PartitionedHosting:Admission:MaxQueueWait"] = "00:00:00.5";
        await using var app = await KestrelTestApp.StartAsync(settings, a =>
        {
            a.MapGet("/gated", async () =>
            {
                await gate.Task;
                return "gated";
            });
            a.MapGet("/generation", (IPartitionContext partition) => partition.Generation.ToString(CultureInfo.InvariantCulture));
        });
        var partition = app.Runtime.Partitions[0];
        using var holder = app.CreateClient();
        using var waiter = app.CreateClient();
        try
        {
            var held = holder.GetStringAsync("/gated");
            await KestrelTestApp.WaitUntilAsync(() => partition.ActiveRequests == 1, "the only permit is held");
            var waiting = waiter.GetAsync("/generation");
            await KestrelTestApp.WaitUntilAsync(() => partition.ActiveRequests == 2, "a second request waits for the permit");

            var recycle = app.Services.GetRequiredService<IPartitionManager>().RecycleAsync(0);
            await KestrelTestApp.WaitUntilAsync(() => partition.Current.Generation == 2, "the instance is replaced");

            using var response = await waiting.WaitAsync(KestrelTestApp.Timeout);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("2", await response.Content.ReadAsStringAsync());

            gate.SetResult();
            Assert.Equal("gated", await held.WaitAsync(KestrelTestApp.Timeout));
            await recycle.WaitAsync(KestrelTestApp.Timeout);
        }
        finally
        {
            gate.TrySetResult();
        }
    }

    [Theory]
    [InlineData("SingleThreaded", null)]
    [InlineData("FreeThreaded", "1")]
    public async Task RequestWaitingLongerThanMaxQueueWait_Gets503(string mode, string? maxConcurrent)
    {
        using var release = new ManualResetEventSlim();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var time = new FakeTimeProvider();
        var settings = Settings.KestrelTransport(Settings.Partitioned(1, mode));
        settings["PartitionedHosting:Admission:MaxQueueWait"] = "00:00:00.2";
        settings["PartitionedHosting:Admission:MaxConcurrentRequests"] = maxConcurrent;
        await using var app = await KestrelTestApp.StartAsync(settings, a =>
        {
            a.MapGet("/block", async () =>
            {
                // Single-threaded: hold the thread; free-threaded: hold the only permit.
                if (mode == "SingleThreaded")
                {
                    release.Wait(KestrelTestApp.Timeout);
                }
                else
                {
                    await gate.Task;
                }

                return "released";
            });
            a.MapGet("/quick", () => "quick");
        }, configure: b => b.Services.AddSingleton<TimeProvider>(time));
        using var metrics = new MetricRecorder(app.Services.GetRequiredService<IMeterFactory>());
        var partition = app.Runtime.Partitions[0];
        using var first = app.CreateClient();
        using var second = app.CreateClient();

        var blocking = first.GetStringAsync("/block");
        await KestrelTestApp.WaitUntilAsync(() => partition.ActiveRequests == 1 && partition.QueueLength == 0, "the blocking request runs");
        var waiting = second.GetAsync("/quick");
        await KestrelTestApp.WaitUntilAsync(() => partition.ActiveRequests == 2, "the second request waits");

        // Longer than MaxQueueWait on the partition's clock: the waiting request is answered 503 once it is looked at
        // (by the partition's thread, or the permit's timeout), whatever it waited for.
        time.Advance(TimeSpan.FromMilliseconds(300));
        release.Set();
        gate.TrySetResult();

        using var response = await waiting.WaitAsync(KestrelTestApp.Timeout);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.NotNull(response.Headers.RetryAfter);
        Assert.Equal("queue_wait", Assert.Single(metrics.Of("partitionedhosting.rejections")).Tags["reason"]);
        Assert.Equal("released", await blocking.WaitAsync(KestrelTestApp.Timeout));
        Assert.Equal("quick", await second.GetStringAsync("/quick"));
    }
}
