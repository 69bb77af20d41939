using System.Net.Http.Json;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using WebApi;

namespace PartitionedHosting.Tests.Integration;

// The test class of docs/testing.md, word for word (DocsSnippetsTests compares them).
// <snippet name="testing-example">
public sealed class TestingGuideExample : IAsyncLifetime
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
    public async Task SameKey_AlwaysRunsOnItsOwner()
    {
        using var client = _factory.CreateClient();
        var owner = Partitions.GetPartitionForKey("basket-1");

        for (var repeat = 1; repeat <= 3; repeat++)
        {
            var response = await client.PostAsync("/counters/basket-1", null).WaitAsync(TimeSpan.FromSeconds(30));
            var counter = await response.EnsureSuccessStatusCode().Content.ReadFromJsonAsync<Counter>();
            Assert.Equal(new Counter("basket-1", repeat, owner), counter);
        }
    }

    [Fact]
    public async Task TestCode_CanReadAPartitionsStateDirectly()
    {
        using var client = _factory.CreateClient();
        (await client.PostAsync("/counters/direct", null).WaitAsync(TimeSpan.FromSeconds(30))).EnsureSuccessStatusCode();

        // Runs on the owner's own thread, where its lock-free store may be read safely.
        var value = await Partitions.InvokeForKeyAsync("direct", (partition, _) =>
            Task.FromResult(partition.Services.GetRequiredService<CounterStore>().Get("direct"))).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(1, value);
    }
}
// </snippet>
