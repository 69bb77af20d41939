using System.Net.Http.Json;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using WebApi;

namespace PartitionedHosting.Tests.Integration;

/// <summary>
/// The sample's keyed counters under <see cref="WebApplicationFactory{TEntryPoint}"/>: the same guarantees as on
/// real Kestrel. This class is the model the testing guide (docs/testing.md) points to.
/// </summary>
public sealed class SampleKeyAffinityTests : IAsyncLifetime
{
    private readonly WebApplicationFactory<Program> _factory = new WebApplicationFactory<Program>().WithWebHostBuilder(web =>
        web.ConfigureAppConfiguration((_, config) => config.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["PartitionedHosting:PartitionCount"] = "4",
            ["PartitionedHosting:Mode"] = "SingleThreaded",
        })));

    private IPartitionInvoker Partitions => _factory.Services.GetRequiredService<IPartitionInvoker>();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _factory.DisposeAsync();

    [Fact]
    public async Task SameKey_AlwaysRunsOnItsOwner_AndKeysSpreadOverEveryPartition()
    {
        using var client = _factory.CreateClient();
        var perPartition = new int[4];

        for (var i = 0; i < 100; i++)
        {
            var key = $"basket-{i}";
            var owner = Partitions.GetPartitionForKey(key);
            perPartition[owner]++;
            for (var repeat = 1; repeat <= 3; repeat++)
            {
                var response = await client.PostAsync($"/counters/{key}", null).WaitAsync(TimeSpan.FromSeconds(30));
                var counter = await response.EnsureSuccessStatusCode().Content.ReadFromJsonAsync<Counter>();
                Assert.Equal(new Counter(key, repeat, owner), counter);
            }
        }

        Assert.All(perPartition, count => Assert.InRange(count, 15, 35));
    }

    [Fact]
    public async Task Resize_MovesTheSamplesCountersWithTheirSlots_AndKeysKeepCountingOnTheirNewOwner()
    {
        using var client = _factory.CreateClient();
        for (var i = 0; i < 50; i++)
        {
            (await client.PostAsync($"/counters/item-{i}", null).WaitAsync(TimeSpan.FromSeconds(30))).EnsureSuccessStatusCode();
        }

        var manager = _factory.Services.GetRequiredService<PartitionedHosting.IPartitionManager>();
        await manager.ResizeAsync(2).WaitAsync(TimeSpan.FromSeconds(30));
        await manager.ResizeAsync(3).WaitAsync(TimeSpan.FromSeconds(30));

        for (var i = 0; i < 50; i++)
        {
            var response = await client.PostAsync($"/counters/item-{i}", null).WaitAsync(TimeSpan.FromSeconds(30));
            var counter = await response.EnsureSuccessStatusCode().Content.ReadFromJsonAsync<Counter>();
            Assert.Equal(new Counter($"item-{i}", 2, Partitions.GetPartitionForKey($"item-{i}")), counter);
            Assert.InRange(counter!.Partition, 0, 2);
        }

        var totals = await client.GetFromJsonAsync<CounterTotals>("/counters").WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(100, totals!.Total);
        Assert.Equal(3, totals.Partitions.Count);
    }

    [Fact]
    public async Task FanOut_ReturnsTheTotalOverEveryPartition()
    {
        using var client = _factory.CreateClient();
        for (var i = 0; i < 40; i++)
        {
            (await client.PostAsync($"/counters/k{i % 10}", null)).EnsureSuccessStatusCode();
        }

        var totals = await client.GetFromJsonAsync<CounterTotals>("/counters").WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(40, totals!.Total);
        Assert.Equal(10, totals.Partitions.Sum(p => p.Keys));
        Assert.Equal([0, 1, 2, 3], totals.Partitions.Select(p => p.Partition));
    }

    [Fact]
    public async Task TestCode_CanReadAPartitionsStateDirectly()
    {
        using var client = _factory.CreateClient();
        (await client.PostAsync("/counters/direct", null)).EnsureSuccessStatusCode();

        // Runs on the owner's own thread, where its lock-free store may be read safely.
        var value = await Partitions.InvokeForKeyAsync("direct", (partition, _) =>
            Task.FromResult(partition.Services.GetRequiredService<CounterStore>().Get("direct")));

        Assert.Equal(1, value);
    }
}
