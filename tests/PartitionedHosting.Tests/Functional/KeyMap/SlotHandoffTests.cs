using System.Globalization;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using PartitionedHosting.Tests.Infrastructure;

namespace PartitionedHosting.Tests.Functional.KeyMap;

/// <summary>One slot moved by hand: its state moves on the partitions' threads, its requests wait and keep their order.</summary>
public sealed class SlotHandoffTests
{
    [Fact]
    public async Task MovedSlot_HandsItsStateOver_OnBothThreads_AndWaitingRequestsRunOnTheNewOwnerInArrivalOrder()
    {
        // Six requests arrive one after the other while the export is held: the move must not time out meanwhile.
        await using var app = await KeyMapTestApp.StartAsync(2, settings: s => s["PartitionedHosting:HandoffTimeout"] = "00:01:00");
        var manager = app.Services.GetRequiredService<IPartitionManager>();
        var control = app.Services.GetRequiredService<HandoffControl>();
        var runtime = app.Runtime;
        const string key = "order";
        var slot = PartitionKeySlots.GetSlot(key);
        var from = manager.KeyMap.GetOwner(slot);
        var to = 1 - from;

        using (var client = app.CreateClient())
        {
            Assert.Equal(from.ToString(CultureInfo.InvariantCulture), await KeyMapTestApp.PostAsync(client, $"/append/{key}?n=0"));
        }

        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        control.ExportGate = gate.Task;
        var move = manager.MoveSlotAsync(slot, to);
        await control.ExportStarted.Task.WaitAsync(KestrelTestApp.Timeout);

        // Each request arrives (and waits) before the next is sent, each on a connection of its own.
        var clients = Enumerable.Range(1, 6).Select(_ => app.CreateClient()).ToArray();
        var answers = new List<Task<string>>();
        try
        {
            for (var n = 1; n <= clients.Length; n++)
            {
                answers.Add(KeyMapTestApp.PostAsync(clients[n - 1], $"/append/{key}?n={n}"));
                var waiting = n;
                await KestrelTestApp.WaitUntilAsync(() => runtime.Slots.CountWaiting(slot) == waiting, $"request {n} waits for the move");
            }

            Assert.False(move.IsCompleted);
            gate.SetResult();
            await move.WaitAsync(KestrelTestApp.Timeout);
            var owners = await Task.WhenAll(answers).WaitAsync(KestrelTestApp.Timeout);

            Assert.All(owners, o => Assert.Equal(to.ToString(CultureInfo.InvariantCulture), o));

            // Released on the new owner's thread, a request from the other partition's connection moves there without a
            // place in the queue, and gives none back: the queues are empty, not below.
            Assert.All(runtime.Partitions, p => Assert.Equal(0, p.QueueLength));
            Assert.Equal("0,1,2,3,4,5,6", await clients[0].GetStringAsync($"/log/{key}"));
            Assert.Equal(to, manager.KeyMap.GetOwner(slot));
            Assert.Contains(slot, manager.KeyMap.MovedByHand);
            Assert.Equal(to, app.Services.GetRequiredService<IPartitionInvoker>().GetPartitionForKey(key));
            Assert.Equal(
                [("export", from, true), ("export-resumed", from, true), ("import", to, true)],
                control.Handoffs.ToArray());
            Assert.Equal(0, control.Violations);
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
    public async Task HandoffLongerThanHandoffTimeout_AnswersWaitingRequests503WithRetryAfter_ThenTheSlotServesAgain()
    {
        await using var app = await KeyMapTestApp.StartAsync(2, settings: s => s["PartitionedHosting:HandoffTimeout"] = "00:00:00.300");
        var manager = app.Services.GetRequiredService<IPartitionManager>();
        var control = app.Services.GetRequiredService<HandoffControl>();
        const string key = "slow";
        var slot = PartitionKeySlots.GetSlot(key);
        var to = 1 - manager.KeyMap.GetOwner(slot);
        using var client = app.CreateClient();
        await KeyMapTestApp.PostAsync(client, $"/inc/{key}");

        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        control.ExportGate = gate.Task;
        var move = manager.MoveSlotAsync(slot, to);
        await control.ExportStarted.Task.WaitAsync(KestrelTestApp.Timeout);

        var started = System.Diagnostics.Stopwatch.StartNew();
        using (var response = await client.PostAsync($"/inc/{key}", null))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.NotNull(response.Headers.RetryAfter);
        }

        // Bounded by the timeout, well before the test's own.
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(10), $"answered after {started.Elapsed}");

        gate.SetResult();
        await move.WaitAsync(KestrelTestApp.Timeout);
        Assert.Equal(to.ToString(CultureInfo.InvariantCulture), await KeyMapTestApp.PostAsync(client, $"/inc/{key}"));
        Assert.Equal("2", await client.GetStringAsync($"/count/{key}"));
    }

    [Fact]
    public async Task FailedExport_LeavesTheSlotAndItsStateWithTheOldOwner()
    {
        await using var app = await KeyMapTestApp.StartAsync(2);
        var manager = app.Services.GetRequiredService<IPartitionManager>();
        var control = app.Services.GetRequiredService<HandoffControl>();
        const string key = "stays";
        var slot = PartitionKeySlots.GetSlot(key);
        var from = manager.KeyMap.GetOwner(slot);
        using var client = app.CreateClient();
        await KeyMapTestApp.PostAsync(client, $"/inc/{key}");
        var version = manager.KeyMap.Version;

        control.FailExport = true;
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => manager.MoveSlotAsync(slot, 1 - from).WaitAsync(KestrelTestApp.Timeout));
        Assert.Contains($"stays on partition {from}", error.Message, StringComparison.Ordinal);

        Assert.Equal(from, manager.KeyMap.GetOwner(slot));
        Assert.DoesNotContain(slot, manager.KeyMap.MovedByHand);
        Assert.True(manager.KeyMap.Version > version);
        Assert.Equal(from.ToString(CultureInfo.InvariantCulture), await KeyMapTestApp.PostAsync(client, $"/inc/{key}"));
        Assert.Equal("2", await client.GetStringAsync($"/count/{key}"));
    }

    [Fact]
    public async Task FailedImport_ImportsTheStateBackIntoTheOldOwner_WhichKeepsTheSlot()
    {
        await using var app = await KeyMapTestApp.StartAsync(2);
        var manager = app.Services.GetRequiredService<IPartitionManager>();
        var control = app.Services.GetRequiredService<HandoffControl>();
        const string key = "back";
        var slot = PartitionKeySlots.GetSlot(key);
        var from = manager.KeyMap.GetOwner(slot);
        using var client = app.CreateClient();
        await KeyMapTestApp.PostAsync(client, $"/inc/{key}");

        control.FailImport = true;
        control.ImportBackTo = from;
        await Assert.ThrowsAsync<InvalidOperationException>(() => manager.MoveSlotAsync(slot, 1 - from).WaitAsync(KestrelTestApp.Timeout));

        Assert.Equal(from, manager.KeyMap.GetOwner(slot));
        Assert.Equal("1", await client.GetStringAsync($"/count/{key}"));
        Assert.Equal([("import", 1 - from), ("import", from)], control.Handoffs.Where(h => h.Step == "import").Select(h => (h.Step, h.Partition)));
    }

    [Fact]
    public async Task KeyCallsThroughTheInvoker_FollowTheMove()
    {
        await using var app = await KeyMapTestApp.StartAsync(2);
        var manager = app.Services.GetRequiredService<IPartitionManager>();
        var invoker = app.Services.GetRequiredService<IPartitionInvoker>();
        const string key = "invoked";
        var slot = PartitionKeySlots.GetSlot(key);
        var to = 1 - manager.KeyMap.GetOwner(slot);

        await manager.MoveSlotAsync(slot, to).WaitAsync(KestrelTestApp.Timeout);

        Assert.Equal(to, await invoker.InvokeForKeyAsync(key, (p, _) => Task.FromResult(p.Id)).WaitAsync(KestrelTestApp.Timeout));
    }

    [Fact]
    public async Task RequestsThatOutliveHandoffTimeout_CallTheMoveOff_AndKeepTheirChangesOnTheOldOwner()
    {
        await using var app = await KeyMapTestApp.StartAsync(2, settings: s => s["PartitionedHosting:HandoffTimeout"] = "00:00:00.300");
        var manager = app.Services.GetRequiredService<IPartitionManager>();
        var control = app.Services.GetRequiredService<HandoffControl>();
        const string key = "long";
        var slot = PartitionKeySlots.GetSlot(key);
        var from = manager.KeyMap.GetOwner(slot);
        using var slowClient = app.CreateClient();
        var slow = KeyMapTestApp.PostAsync(slowClient, $"/slow/{key}");
        await control.SlowStarted.Task.WaitAsync(KestrelTestApp.Timeout);

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => manager.MoveSlotAsync(slot, 1 - from).WaitAsync(KestrelTestApp.Timeout));
        Assert.Contains($"stays on partition {from}", error.Message, StringComparison.Ordinal);
        Assert.Empty(control.Handoffs);

        control.SlowGate.SetResult();
        Assert.Equal(from.ToString(CultureInfo.InvariantCulture), await slow.WaitAsync(KestrelTestApp.Timeout));
        using var client = app.CreateClient();
        Assert.Equal(from.ToString(CultureInfo.InvariantCulture), await KeyMapTestApp.PostAsync(client, $"/inc/{key}"));
        Assert.Equal("2", await client.GetStringAsync($"/count/{key}"));
    }

    [Fact]
    public async Task KeyCallFromARequestOfTheMovingSlot_JoinsTheDrainOnTheOldOwner_InsteadOfWaitingForTheMoveThatWaitsForIt()
    {
        await using var app = await KeyMapTestApp.StartAsync(2);
        var manager = app.Services.GetRequiredService<IPartitionManager>();
        var control = app.Services.GetRequiredService<HandoffControl>();

        // Hash tags: both keys share one slot.
        const string key = "{tenant}.orders", other = "{tenant}.cart";
        var slot = PartitionKeySlots.GetSlot(key);
        Assert.Equal(slot, PartitionKeySlots.GetSlot(other));
        var from = manager.KeyMap.GetOwner(slot);
        using var slowClient = app.CreateClient();
        var slow = KeyMapTestApp.PostAsync(slowClient, $"/slow/{Uri.EscapeDataString(key)}?then={Uri.EscapeDataString(other)}");
        await control.SlowStarted.Task.WaitAsync(KestrelTestApp.Timeout);

        var move = manager.MoveSlotAsync(slot, 1 - from);
        await KestrelTestApp.WaitUntilAsync(() => app.Runtime.KeyMap.Version > 0 && !move.IsCompleted && control.Handoffs.IsEmpty, "the move drains");
        control.SlowGate.SetResult();

        // The nested call ran on the old owner, which still held the slot's state; then the move went ahead.
        Assert.Equal($"{from} {from}", await slow.WaitAsync(KestrelTestApp.Timeout));
        await move.WaitAsync(KestrelTestApp.Timeout);
        Assert.Equal(1 - from, manager.KeyMap.GetOwner(slot));
        using var client = app.CreateClient();
        Assert.Equal("1", await client.GetStringAsync($"/count/{Uri.EscapeDataString(key)}"));
    }

    [Fact]
    public async Task CancelledMove_LeavesTheSlotWithItsOwner_AndItsRequestsGoOn()
    {
        await using var app = await KeyMapTestApp.StartAsync(2);
        var manager = app.Services.GetRequiredService<IPartitionManager>();
        var control = app.Services.GetRequiredService<HandoffControl>();
        const string key = "cancelled";
        var slot = PartitionKeySlots.GetSlot(key);
        var from = manager.KeyMap.GetOwner(slot);
        using var slowClient = app.CreateClient();
        var slow = KeyMapTestApp.PostAsync(slowClient, $"/slow/{key}");
        await control.SlowStarted.Task.WaitAsync(KestrelTestApp.Timeout);

        using var cancel = new CancellationTokenSource();
        var move = manager.MoveSlotAsync(slot, 1 - from, cancel.Token);
        using var client = app.CreateClient();
        var waiting = KeyMapTestApp.PostAsync(client, $"/inc/{key}");
        await KestrelTestApp.WaitUntilAsync(() => app.Runtime.Slots.CountWaiting(slot) == 1, "a request waits for the move");
        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => move.WaitAsync(KestrelTestApp.Timeout));
        Assert.Equal(from.ToString(CultureInfo.InvariantCulture), await waiting.WaitAsync(KestrelTestApp.Timeout));
        control.SlowGate.SetResult();
        await slow.WaitAsync(KestrelTestApp.Timeout);
        Assert.Equal(from, manager.KeyMap.GetOwner(slot));
        Assert.Equal("2", await client.GetStringAsync($"/count/{key}"));
    }
}
