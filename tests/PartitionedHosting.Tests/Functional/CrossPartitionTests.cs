using System.Collections.Concurrent;
using System.Net.Http.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using PartitionedHosting.Partitions;
using PartitionedHosting.Tests.Infrastructure;
using WebApi;

namespace PartitionedHosting.Tests.Functional;

/// <summary>The sample's keyed counters under concurrent load, and calls between partitions.</summary>
public sealed class CrossPartitionTests
{
    /// <summary>The sample's counter endpoints and store, on real Kestrel.</summary>
    private static Task<KestrelTestApp> StartCountersAsync(int partitions) => KestrelTestApp.StartAsync(
        Settings.Partitioned(partitions, "SingleThreaded"),
        app =>
        {
            app.MapPost("/counters/{key}", (string key, CounterStore store, IPartitionContext partition) =>
                new Counter(key, store.Increment(key), partition.Id)).WithPartitionKey("key");
            app.MapGet("/counters/{key}", (string key, CounterStore store, IPartitionContext partition) =>
                new Counter(key, store.Get(key), partition.Id)).WithPartitionKey("key");
            app.MapGet("/counters", async (IPartitionInvoker invoker, CancellationToken cancellationToken) =>
            {
                var counters = await invoker.InvokeAllAsync((p, _) => Task.FromResult(p.Services.GetRequiredService<CounterStore>().Snapshot(p.Id)), cancellationToken);
                return new CounterTotals(counters.Sum(c => c.Total), counters);
            });
        },
        partition => partition.Services.AddSingleton<CounterStore>());

    [Fact]
    public async Task ConcurrentIncrementsOfRandomKeys_LoseNoUpdate_InALockFreeStore()
    {
        await using var app = await StartCountersAsync(2);
        var expected = new ConcurrentDictionary<string, int>();
        var clients = Enumerable.Range(0, 8).Select(_ => app.CreateClient()).ToList();
        try
        {
            var load = clients.Select(async (client, n) =>
            {
                var random = new Random(n);
                for (var i = 0; i < 150; i++)
                {
                    var batch = Enumerable.Range(0, 4).Select(_ => $"key-{random.Next(25)}").ToList();
                    batch.ForEach(key => expected.AddOrUpdate(key, 1, (_, v) => v + 1));
                    var responses = await Task.WhenAll(batch.Select(key => client.PostAsync($"/counters/{key}", null)));
                    Assert.All(responses, r => r.EnsureSuccessStatusCode());
                }
            });
            await Task.WhenAll(load).WaitAsync(KestrelTestApp.Timeout * 2);

            using var reader = app.CreateClient();
            foreach (var (key, count) in expected)
            {
                var counter = await reader.GetFromJsonAsync<Counter>($"/counters/{key}");
                Assert.Equal(count, counter!.Value);
            }

            var totals = await reader.GetFromJsonAsync<CounterTotals>("/counters");
            Assert.Equal(8 * 150 * 4, totals!.Total);
            Assert.Equal(expected.Count, totals.Partitions.Sum(p => p.Keys));
            Assert.All(totals.Partitions, p => Assert.True(p.Keys > 0, $"partition {p.Partition} owns no key"));
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
        }
    }

    [Fact]
    public async Task TwoSingleThreadedPartitionsCallingEachOther_DoNotDeadlock_AndEachWorkRunsOnItsTarget()
    {
        await using var app = await KestrelTestApp.StartAsync(
            Settings.Partitioned(2, "SingleThreaded"),
            a => a.MapGet("/ping-pong", async (IPartitionContext here, IPartitionInvoker invoker) =>
            {
                var other = 1 - here.Id;
                var report = await invoker.InvokeAsync(other, async (there, ct) =>
                {
                    var thereThread = Environment.CurrentManagedThreadId;
                    var back = await invoker.InvokeAsync(here.Id, (again, _) => Task.FromResult(Environment.CurrentManagedThreadId == ((PartitionInstance)again).Thread!.ManagedThreadId));
                    return $"{thereThread == ((PartitionInstance)there).Thread!.ManagedThreadId} {back} {Environment.CurrentManagedThreadId == ((PartitionInstance)there).Thread!.ManagedThreadId}";
                });
                var inline = await invoker.InvokeAsync(here.Id, (self, _) => Task.FromResult(Environment.CurrentManagedThreadId == ((PartitionInstance)self).Thread!.ManagedThreadId));
                return $"{report} {inline} {Environment.CurrentManagedThreadId == ((PartitionInstance)here).Thread!.ManagedThreadId}";
            }));
        var clients = Enumerable.Range(0, 4).Select(_ => app.CreateClient()).ToList();
        try
        {
            // Both partitions at once, many times: each waits on the other while the other waits on it.
            var answers = await Task.WhenAll(clients.SelectMany(c => Enumerable.Range(0, 10).Select(_ => c.GetStringAsync("/ping-pong"))))
                .WaitAsync(KestrelTestApp.Timeout);

            Assert.All(answers, a => Assert.Equal("True True True True True", a));
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
        }
    }

    [Fact]
    public async Task ExceptionsAndCancellation_PropagateToTheCaller()
    {
        await using var app = await KestrelTestApp.StartAsync(Settings.Partitioned(2, "SingleThreaded"), _ => { });
        var invoker = app.Services.GetRequiredService<IPartitionInvoker>();

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            invoker.InvokeAsync<int>(1, (_, _) => throw new InvalidOperationException("from partition 1")).WaitAsync(KestrelTestApp.Timeout));
        Assert.Equal("from partition 1", error.Message);

        using var cancelled = new CancellationTokenSource();
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var call = invoker.InvokeAsync(0, async (_, ct) =>
        {
            started.SetResult();
            await Task.Delay(Timeout.Infinite, ct);
            return 0;
        }, cancelled.Token);
        await started.Task.WaitAsync(KestrelTestApp.Timeout);
        await cancelled.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call.WaitAsync(KestrelTestApp.Timeout));

        Assert.Throws<ArgumentOutOfRangeException>(() => { _ = invoker.InvokeAsync(2, (_, _) => Task.FromResult(0)); });
    }

    [Fact]
    public async Task FanOut_FromABackgroundThread_ReachesEveryPartitionOnItsThread()
    {
        await using var app = await KestrelTestApp.StartAsync(Settings.Partitioned(3, "SingleThreaded"), _ => { });
        var invoker = app.Services.GetRequiredService<IPartitionInvoker>();

        var results = await Task.Run(() => invoker.InvokeAllAsync((p, _) =>
            Task.FromResult($"{p.Id} {((PartitionInstance)p).Thread!.ManagedThreadId == Environment.CurrentManagedThreadId}"))).WaitAsync(KestrelTestApp.Timeout);

        Assert.Equal(["0 True", "1 True", "2 True"], results);
    }
}
