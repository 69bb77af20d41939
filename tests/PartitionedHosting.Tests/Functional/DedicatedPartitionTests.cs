using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using PartitionedHosting.Execution;
using PartitionedHosting.Tests.Infrastructure;

namespace PartitionedHosting.Tests.Functional;

/// <summary>
/// A dedicated partition takes only the endpoints pinned to it: blocking endpoints there neither stop the
/// single-threaded partitions nor exceed its concurrency bound.
/// </summary>
public sealed class DedicatedPartitionTests
{
    private static Dictionary<string, string?> BlockingSetup()
    {
        // Partitions 0 and 1 single-threaded serve the application; 2, free-threaded and dedicated, at most 2 at once.
        var settings = Settings.Partitioned(3, "SingleThreaded");
        settings["PartitionedHosting:Partitions:2:Mode"] = "FreeThreaded";
        settings["PartitionedHosting:Partitions:2:Dedicated"] = "true";
        settings["PartitionedHosting:Partitions:2:MaxConcurrentRequests"] = "2";
        return settings;
    }

    [Fact]
    public async Task BlockingEndpointsPinnedToADedicatedPartition_RunThereBounded_WhileTheOthersKeepServing()
    {
        using var release = new ManualResetEventSlim();
        var inBlocking = 0;
        var maxInBlocking = 0;
        var blockingSaw = new System.Collections.Concurrent.ConcurrentQueue<string>();

        await using var app = await KestrelTestApp.StartAsync(
            BlockingSetup(),
            a =>
            {
                a.MapGet("/where", (IPartitionContext partition) => partition.Id.ToString(CultureInfo.InvariantCulture));
                a.MapGet("/block", (IPartitionContext partition) =>
                {
                    var now = Interlocked.Increment(ref inBlocking);
                    int seen;
                    while ((seen = Volatile.Read(ref maxInBlocking)) < now && Interlocked.CompareExchange(ref maxInBlocking, now, seen) != seen)
                    {
                    }

                    blockingSaw.Enqueue($"{partition.Id} {(PartitionThread.Current is null ? "pool" : "partition thread")}");

                    // Blocks its thread until the test has seen the other partitions serve: sync-over-async at its worst.
                    var released = release.Wait(KestrelTestApp.Timeout);
                    Interlocked.Decrement(ref inBlocking);
                    return released ? "released" : "timed out";
                }).RunOnPartition(2);
            });

        // Six blocking requests, from connections of partitions 0 and 1; two run, four wait in partition 2's queue.
        var blockingClients = Enumerable.Range(0, 6).Select(_ => app.CreateClient()).ToList();
        var blocking = blockingClients.Select(c => c.GetStringAsync("/block")).ToList();
        var deadline = DateTime.UtcNow + KestrelTestApp.Timeout;
        while (Volatile.Read(ref inBlocking) < 2 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }

        // Meanwhile both application partitions answer, on new connections; the dedicated one takes none.
        using var client = app.CreateClient(newConnectionPerRequest: true);
        var answered = new List<string>();
        for (var i = 0; i < 12; i++)
        {
            answered.Add(await client.GetStringAsync("/where").WaitAsync(KestrelTestApp.Timeout));
        }

        Assert.Equal(["0", "1"], answered.Distinct().Order());
        Assert.Equal(2, Volatile.Read(ref inBlocking));

        release.Set();
        Assert.All(await Task.WhenAll(blocking).WaitAsync(KestrelTestApp.Timeout), r => Assert.Equal("released", r));
        blockingClients.ForEach(c => c.Dispose());

        Assert.Equal(2, maxInBlocking);
        Assert.Equal(6, blockingSaw.Count);
        Assert.All(blockingSaw, s => Assert.Equal("2 pool", s));
    }

    [Fact]
    public async Task ADedicatedPartition_OwnsNoKeys_AndTakesNoConnections()
    {
        await using var app = await KestrelTestApp.StartAsync(
            BlockingSetup(),
            a => a.MapGet("/where", (IPartitionContext partition) => partition.Id.ToString(CultureInfo.InvariantCulture)));
        var invoker = app.Services.GetRequiredService<IPartitionInvoker>();

        var owners = Enumerable.Range(0, 200).Select(i => invoker.GetPartitionForKey($"key-{i}")).ToHashSet();
        Assert.Equal([0, 1], owners.Order());

        using var client = app.CreateClient(newConnectionPerRequest: true);
        for (var i = 0; i < 10; i++)
        {
            Assert.NotEqual("2", await client.GetStringAsync("/where"));
        }

        Assert.Equal(0, app.Runtime.Partitions[2].Snapshot().Requests);
    }

    [Fact]
    public async Task TheAttribute_PinsAnEndpointAsTheConventionDoes()
    {
        await using var app = await KestrelTestApp.StartAsync(
            BlockingSetup(),
            a => a.MapGet("/pinned", [RunOnPartition(2)] (IPartitionContext partition) => partition.Id.ToString(CultureInfo.InvariantCulture)));
        using var client = app.CreateClient(newConnectionPerRequest: true);

        for (var i = 0; i < 4; i++)
        {
            Assert.Equal("2", await client.GetStringAsync("/pinned"));
        }
    }

    [Fact]
    public async Task PinningToAPartitionThatDoesNotExist_StopsTheHostAtStartup_NamingTheEndpoint()
    {
        await using var app = KestrelTestApp.Build(BlockingSetup(), a => a.MapGet("/block", () => "x").RunOnPartition(3));

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => app.StartAsync().WaitAsync(KestrelTestApp.Timeout));

        Assert.Contains("Endpoint 'HTTP: GET /block' runs on partition 3 (RunOnPartition), which does not exist; allowed: 0 to 2", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnEndpointBothPinnedAndKeyed_StopsTheHostAtStartup_NamingIt()
    {
        await using var app = KestrelTestApp.Build(BlockingSetup(), a => a.MapGet("/carts/{id}", (string id) => id).WithPartitionKey("id").RunOnPartition(2));

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => app.StartAsync().WaitAsync(KestrelTestApp.Timeout));

        Assert.Contains("Endpoint 'HTTP: GET /carts/{id}' runs on partition 2 (RunOnPartition) and is keyed (Route 'id') as well; allowed: one of the two.", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EveryPartitionDedicated_FailsValidation_NamingTheKey()
    {
        var settings = Settings.Partitioned(2, "FreeThreaded");
        settings["PartitionedHosting:Partitions:0:Dedicated"] = "true";
        settings["PartitionedHosting:Partitions:1:Dedicated"] = "true";
        await using var app = KestrelTestApp.Build(settings, _ => { });

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync().WaitAsync(KestrelTestApp.Timeout));

        Assert.Contains("PartitionedHosting:Partitions:{index}:Dedicated is true for every partition", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task APinnedEndpoint_ReturnsThroughItsConnectionsPartition_AndAnOverfullDedicatedPartitionAnswers503()
    {
        var settings = BlockingSetup();
        settings["PartitionedHosting:Partitions:2:MaxConcurrentRequests"] = "1";
        settings["PartitionedHosting:Partitions:2:MaxQueueLength"] = "1";
        using var release = new ManualResetEventSlim();
        var started = 0;
        await using var app = await KestrelTestApp.StartAsync(
            settings,
            a => a.MapGet("/block", () =>
            {
                Interlocked.Increment(ref started);
                release.Wait(KestrelTestApp.Timeout);
                return "done";
            }).RunOnPartition(2));

        var clients = Enumerable.Range(0, 3).Select(_ => app.CreateClient()).ToList();
        try
        {
            // One runs, one waits in the queue, the third is refused at once.
            var first = clients[0].GetAsync("/block");
            var deadline = DateTime.UtcNow + KestrelTestApp.Timeout;
            while (Volatile.Read(ref started) < 1 && DateTime.UtcNow < deadline)
            {
                await Task.Delay(10);
            }

            // Admitted by the dedicated partition, waiting for its one permit (not a fixed delay: a busy machine is slow).
            var second = clients[1].GetAsync("/block");
            await KestrelTestApp.WaitUntilAsync(() => app.Runtime.Partitions[2].ActiveRequests == 2, "the second request waits in the dedicated partition");
            using var third = await clients[2].GetAsync("/block").WaitAsync(KestrelTestApp.Timeout);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, third.StatusCode);
            Assert.NotNull(third.Headers.RetryAfter);

            release.Set();
            using var firstResponse = await first.WaitAsync(KestrelTestApp.Timeout);
            using var secondResponse = await second.WaitAsync(KestrelTestApp.Timeout);
            Assert.Equal(HttpStatusCode.OK, firstResponse.StatusCode);
            Assert.Equal(HttpStatusCode.OK, secondResponse.StatusCode);
        }
        finally
        {
            release.Set();
            clients.ForEach(c => c.Dispose());
        }
    }
}
