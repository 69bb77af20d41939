using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using PartitionedHosting.Partitions;
using PartitionedHosting.Tests.Infrastructure;

namespace PartitionedHosting.Tests.Functional;

/// <summary>
/// Load with faults and recycles injected at random: every key's counter (partition-local, handed over from each
/// replaced instance to its successor) ends at exactly the number of increments its clients saw succeed, and every
/// replaced instance is disposed, its thread ended, and collected. CI runs it for a few seconds; set
/// <c>PARTITIONED_HOSTING_SOAK_SECONDS=60</c> for the full soak.
/// </summary>
public sealed class SoakTests
{
    private static readonly int s_seconds = int.TryParse(Environment.GetEnvironmentVariable("PARTITIONED_HOSTING_SOAK_SECONDS"), out var s) ? s : 4;

    [Fact]
    public async Task LoadWithRandomFaultsAndRecycles_LosesNoIncrement_AndLeavesNoInstanceBehind()
    {
        var settings = Settings.Partitioned(3, "SingleThreaded");
        settings["PartitionedHosting:Recycling:AfterRequests"] = "400";
        settings["PartitionedHosting:Watchdog:CrashLoopMaxFailures"] = "1000";
        var instances = new ConcurrentQueue<PartitionInstance>();
        await using var app = await KestrelTestApp.StartAsync(
            settings,
            a =>
            {
                a.MapPost("/counters/{key}", (string key, Counters counters) => counters.Increment(key).ToString(CultureInfo.InvariantCulture)).WithPartitionKey("key");
                a.MapGet("/io", async () =>
                {
                    await Task.Delay(2);
                    return "io";
                });
                a.MapGet("/fault", () =>
                {
                    SynchronizationContext.Current!.Post(_ => throw new InvalidOperationException("injected"), null);
                    return "fault";
                });
            },
            p =>
            {
                p.Services.AddSingleton<Counters>();
                p.Services.AddSingleton<IPartitionLifecycleHook>(sp => new CountersHandover(sp.GetRequiredService<Counters>(), sp.GetRequiredService<IPartitionInvoker>(), instances));
            });
        var manager = app.Services.GetRequiredService<IPartitionManager>();
        var invoker = app.Services.GetRequiredService<IPartitionInvoker>();
        var succeeded = new ConcurrentDictionary<string, long>();
        var outcomes = new ConcurrentDictionary<HttpStatusCode, int>();

        var clients = Enumerable.Range(0, 8).Select(_ => app.CreateClient()).ToList();
        try
        {
            using var soak = new CancellationTokenSource(TimeSpan.FromSeconds(s_seconds));
            await Task.WhenAll(clients.Select(async (client, n) =>
            {
                var random = new Random(n);
                while (!soak.IsCancellationRequested)
                {
                    var roll = random.Next(100);
                    var key = $"k{random.Next(50)}";
                    using var response = roll switch
                    {
                        0 => await client.GetAsync("/fault"),
                        < 50 => await client.PostAsync($"/counters/{key}", null),
                        _ => await client.GetAsync("/io"),
                    };
                    outcomes.AddOrUpdate(response.StatusCode, 1, (_, c) => c + 1);
                    if (roll is > 0 and < 50 && response.IsSuccessStatusCode)
                    {
                        succeeded.AddOrUpdate(key, 1, (_, c) => c + 1);
                    }

                    if (roll == 1)
                    {
                        _ = manager.RecycleAsync(random.Next(3));
                    }
                }
            })).WaitAsync(TimeSpan.FromSeconds(s_seconds + 60));

            // One more request per connection, so that no pooled request context still refers to a replaced instance.
            await Task.WhenAll(clients.Select(c => c.GetStringAsync("/io")));
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
        }

        // Every request got an answer, and every one a success: nothing was unavailable for long enough to refuse it.
        Assert.Equal([HttpStatusCode.OK], outcomes.Keys);
        Assert.All(manager.GetSnapshots(), p => Assert.True(p.Generation > 1, $"partition {p.Id} was never recycled"));

        // Once the recycles have settled (every replaced instance drained, handed its counters over and was disposed),
        // each key's counter is exactly its successful increments.
        var current = app.Runtime.Partitions.Select(p => p.Current).ToList();
        await KestrelTestApp.WaitUntilAsync(
            () => manager.GetSnapshots().All(p => p.State == PartitionState.Running) && instances.Where(i => !current.Contains(i)).All(i => i.Thread!.Exited.IsCompleted),
            "every replaced instance has ended");
        var counted = (await invoker.InvokeAllAsync((p, _) => Task.FromResult(p.Services.GetRequiredService<Counters>().Snapshot()))).SelectMany(c => c).ToDictionary();
        Assert.Equal(succeeded.OrderBy(c => c.Key), counted.OrderBy(c => c.Key));

        // Nothing keeps a replaced instance alive: the runtime holds the current ones only, and the collector takes the rest.
        var replaced = instances.Where(i => !current.Contains(i)).Select(i => new WeakReference(i)).ToList();
        instances.Clear();
        Assert.NotEmpty(replaced);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        Assert.All(replaced, r => Assert.False(r.IsAlive, "a replaced instance is still referenced"));
    }

    [Fact]
    public async Task ShutdownDuringLoad_CompletesEveryAcceptedRequest()
    {
        var started = 0;
        var completed = 0;
        var app = await KestrelTestApp.StartAsync(
            Settings.Partitioned(2, "SingleThreaded"),
            a => a.MapGet("/io", async () =>
            {
                Interlocked.Increment(ref started);
                await Task.Delay(20);
                Interlocked.Increment(ref completed);
                return "io";
            }));
        var received = 0;
        var clients = Enumerable.Range(0, 8).Select(_ => app.CreateClient()).ToList();
        try
        {
            var load = clients.Select(async client =>
            {
                while (true)
                {
                    try
                    {
                        using var response = await client.GetAsync("/io");
                        if (response.StatusCode == HttpStatusCode.OK)
                        {
                            Interlocked.Increment(ref received);
                        }
                    }
                    catch (HttpRequestException)
                    {
                        // Refused or closed before it was accepted: the server has stopped.
                        return;
                    }
                }
            }).ToList();

            await KestrelTestApp.WaitUntilAsync(() => Volatile.Read(ref completed) > 100, "load runs");
            await app.StopAsync();
            await Task.WhenAll(load).WaitAsync(KestrelTestApp.Timeout);
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
            await app.DisposeAsync();
        }

        Assert.Equal(started, completed);
        Assert.Equal(completed, received);
    }

    private sealed class Counters
    {
        private readonly Dictionary<string, long> _values = [];

        public long Increment(string key) => _values[key] = _values.GetValueOrDefault(key) + 1;

        public KeyValuePair<string, long>[] Snapshot() => [.. _values];

        public void Add(IEnumerable<KeyValuePair<string, long>> values)
        {
            foreach (var (key, value) in values)
            {
                _values[key] = _values.GetValueOrDefault(key) + value;
            }
        }
    }

    /// <summary>A replaced instance hands its counters over to its partition's current instance, on that one's thread.</summary>
    private sealed class CountersHandover(Counters counters, IPartitionInvoker invoker, ConcurrentQueue<PartitionInstance> instances) : IPartitionLifecycleHook
    {
        public Task OnStartedAsync(IPartitionContext partition, CancellationToken cancellationToken)
        {
            instances.Enqueue((PartitionInstance)partition);
            return Task.CompletedTask;
        }

        public async Task OnStoppingAsync(IPartitionContext partition, CancellationToken cancellationToken)
        {
            var values = counters.Snapshot();
            await invoker.InvokeAsync(partition.Id, (current, _) =>
            {
                current.Services.GetRequiredService<Counters>().Add(values);
                return Task.FromResult(true);
            }, cancellationToken);
        }
    }
}
