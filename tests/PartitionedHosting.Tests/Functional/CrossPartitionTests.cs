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

        // A work that returns no task fails its call instead of leaving the caller waiting.
        var noTask = await Assert.ThrowsAsync<InvalidOperationException>(() => invoker.InvokeAsync<int>(1, (_, _) => null!).WaitAsync(KestrelTestApp.Timeout));
        Assert.Contains("returned no task", noTask.Message);
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

    /// <summary>
    /// A call counts as a request of its target while it runs (a recycle's drain waits for it) and has ended by the time
    /// its task completes: from outside the partitions, from another partition and from the target itself, for work
    /// that completes at once and for work that waits, in both modes. A call cancelled while queued on a single-threaded
    /// target ends too.
    /// </summary>
    [Theory]
    [InlineData("SingleThreaded", "outside")]
    [InlineData("SingleThreaded", "other")]
    [InlineData("SingleThreaded", "same")]
    [InlineData("FreeThreaded", "outside")]
    [InlineData("FreeThreaded", "other")]
    [InlineData("FreeThreaded", "same")]
    public async Task ACall_IsARequestOfItsTarget_UntilItsTaskCompletes(string mode, string from)
    {
        await using var app = await KestrelTestApp.StartAsync(Settings.Partitioned(2, mode), _ => { });
        var invoker = app.Services.GetRequiredService<IPartitionInvoker>();
        var target = app.Services.GetRequiredService<PartitionRuntime>().Partitions[1];
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        Task<int> Call(Func<IPartitionContext, CancellationToken, Task<int>> work) => from switch
        {
            "outside" => invoker.InvokeAsync(1, work),
            "other" => invoker.InvokeAsync(0, (_, ct) => invoker.InvokeAsync(1, work, ct)),
            _ => invoker.InvokeAsync(1, (_, ct) => invoker.InvokeAsync(1, work, ct)),
        };

        // Calls in flight on the target: the inner one, and the outer one when it calls from the target itself.
        var inFlight = from == "same" ? 2 : 1;
        var waiting = Call(async (partition, _) =>
        {
            await gate.Task;
            return partition.Id;
        });
        await KestrelTestApp.WaitUntilAsync(() => target.ActiveRequests == inFlight, "the waiting call is counted on its target");
        gate.SetResult();
        Assert.Equal(1, await waiting.WaitAsync(KestrelTestApp.Timeout));
        Assert.Equal(0, target.ActiveRequests);

        Assert.Equal(1, await Call((partition, _) => Task.FromResult(partition.Id)).WaitAsync(KestrelTestApp.Timeout));
        Assert.Equal(0, target.ActiveRequests);

        if (mode != "SingleThreaded")
        {
            return;
        }

        // Cancelled while it waits behind another call on a single-threaded target: it never starts, and still ends.
        using var cancelled = new CancellationTokenSource();
        using var hold = new ManualResetEventSlim();
        var holding = invoker.InvokeAsync(1, (_, _) => Task.FromResult(hold.Wait(KestrelTestApp.Timeout) ? 1 : 0));
        var queued = invoker.InvokeAsync(1, (_, _) => Task.FromResult(1), cancelled.Token);
        await cancelled.CancelAsync();
        hold.Set();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => queued.WaitAsync(KestrelTestApp.Timeout));
        Assert.Equal(1, await holding.WaitAsync(KestrelTestApp.Timeout));
        await KestrelTestApp.WaitUntilAsync(() => target.ActiveRequests == 0, "the cancelled call ends on its target");
    }

    /// <summary>
    /// A keyed call is counted in its key's slot (a move of the slot waits for it) until its work ends, which is before
    /// its task completes; a call that does not run (cancelled while queued) leaves the slot too; and a caller that stops
    /// waiting does not take the work out of the slot while it still runs.
    /// </summary>
    [Theory]
    [InlineData("SingleThreaded")]
    [InlineData("FreeThreaded")]
    public async Task AKeyedCall_IsCountedInItsSlot_UntilItsWorkEnds(string mode)
    {
        await using var app = await KestrelTestApp.StartAsync(Settings.Partitioned(2, mode), _ => { });
        var invoker = app.Services.GetRequiredService<IPartitionInvoker>();
        var slots = app.Services.GetRequiredService<PartitionRuntime>().Slots;
        const string key = "counted";
        var slot = PartitionKeySlots.GetSlot(key);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var waiting = invoker.InvokeForKeyAsync(key, async (partition, _) =>
        {
            await gate.Task;
            return partition.Id;
        });
        await KestrelTestApp.WaitUntilAsync(() => slots.CountWorkInFlight(slot) == 1, "the waiting call is counted in its slot");
        gate.SetResult();
        await waiting.WaitAsync(KestrelTestApp.Timeout);
        Assert.Equal(0, slots.CountWorkInFlight(slot));

        await invoker.InvokeForKeyAsync(key, (partition, _) => Task.FromResult(partition.Id)).WaitAsync(KestrelTestApp.Timeout);
        Assert.Equal(0, slots.CountWorkInFlight(slot));

        // The caller stops waiting; the work still runs, and stays counted until it ends.
        using var stop = new CancellationTokenSource();
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var abandoned = invoker.InvokeForKeyAsync(key, async (_, _) =>
        {
            started.SetResult();
            await release.Task;
            return 0;
        }, stop.Token);
        await started.Task.WaitAsync(KestrelTestApp.Timeout);
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => abandoned.WaitAsync(KestrelTestApp.Timeout));
        Assert.Equal(1, slots.CountWorkInFlight(slot));
        release.SetResult();
        await KestrelTestApp.WaitUntilAsync(() => slots.CountWorkInFlight(slot) == 0, "the abandoned call's work ends and leaves its slot");

        if (mode != "SingleThreaded")
        {
            return;
        }

        // Cancelled while it waits behind another call on its single-threaded owner: it never starts, and leaves the slot.
        using var cancelled = new CancellationTokenSource();
        using var hold = new ManualResetEventSlim();
        var holding = invoker.InvokeForKeyAsync(key, (_, _) => Task.FromResult(hold.Wait(KestrelTestApp.Timeout) ? 1 : 0));
        var queued = invoker.InvokeForKeyAsync(key, (_, _) => Task.FromResult(1), cancelled.Token);
        await cancelled.CancelAsync();
        hold.Set();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => queued.WaitAsync(KestrelTestApp.Timeout));
        Assert.Equal(1, await holding.WaitAsync(KestrelTestApp.Timeout));
        await KestrelTestApp.WaitUntilAsync(() => slots.CountWorkInFlight(slot) == 0, "the cancelled call leaves its slot");
    }
}
