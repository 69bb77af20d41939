using System.Net.Http.Json;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using WebApi;

namespace PartitionedHosting.Tests.Integration;

/// <summary>
/// The sample under <see cref="WebApplicationFactory{TEntryPoint}"/>: the server is <c>TestServer</c>, so the
/// partitioning middleware alone assigns partitions, one request at a time.
/// </summary>
public sealed class SampleFactoryTests
{
    private static WebApplicationFactory<Program> CreateFactory(int partitions, string mode = "SingleThreaded", Action<IServiceCollection>? testServices = null) =>
        new WebApplicationFactory<Program>().WithWebHostBuilder(web =>
        {
            // Added after Program.cs has run: seen only because the options bind lazily.
            web.ConfigureAppConfiguration((_, config) => config.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["PartitionedHosting:PartitionCount"] = partitions.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["PartitionedHosting:Mode"] = mode,
            }));
            if (testServices is not null)
            {
                web.ConfigureTestServices(testServices);
            }
        });

    private static async Task<List<PartitionInfo>> GetPartitionsAsync(HttpClient client, int count)
    {
        var answers = new List<PartitionInfo>();
        for (var i = 0; i < count; i++)
        {
            answers.Add((await client.GetFromJsonAsync<PartitionInfo>("/partition").WaitAsync(TimeSpan.FromSeconds(30)))!);
        }

        return answers;
    }

    [Theory]
    [InlineData("SingleThreaded")]
    [InlineData("FreeThreaded")]
    public async Task Requests_AreSpreadOverPartitions_RoundRobin(string mode)
    {
        await using var factory = CreateFactory(3, mode);
        using var client = factory.CreateClient();

        var answers = await GetPartitionsAsync(client, 9);

        var first = answers[0].Partition;
        Assert.Equal(Enumerable.Range(0, 9).Select(i => (first + i) % 3), answers.Select(a => a.Partition));
        Assert.All(answers, a => Assert.Equal(mode, a.Mode));
        Assert.All(answers, a => Assert.Equal(3, a.PartitionCount));
    }

    [Fact]
    public async Task PartitionLocalServices_AreIsolated_AndKeepTheirState()
    {
        await using var factory = CreateFactory(2);
        using var client = factory.CreateClient();

        var answers = await GetPartitionsAsync(client, 6);

        var byPartition = answers.GroupBy(a => a.Partition).ToDictionary(g => g.Key, g => g.ToList());
        Assert.Equal(2, byPartition.Count);
        Assert.All(byPartition.Values, served => Assert.Single(served.Select(a => a.Instance).Distinct()));
        Assert.NotEqual(byPartition[0][0].Instance, byPartition[1][0].Instance);
        Assert.All(byPartition.Values, served => Assert.Equal([1L, 2L, 3L], served.Select(a => a.Requests)));
    }

    [Fact]
    public async Task SingleThreaded_EndpointRunsOnOneThreadPerPartition()
    {
        await using var factory = CreateFactory(2);
        using var client = factory.CreateClient();

        var answers = await GetPartitionsAsync(client, 8);

        var threads = answers.GroupBy(a => a.Partition).ToDictionary(g => g.Key, g => g.Select(a => a.Thread).Distinct().ToList());
        Assert.All(threads.Values, t => Assert.Single(t));
        Assert.NotEqual(threads[0][0], threads[1][0]);
    }

    [Fact]
    public async Task ConfigureTestServices_ReplacingASharedService_ReachesEveryPartition()
    {
        var frozen = new DateTimeOffset(2030, 1, 2, 3, 4, 5, TimeSpan.Zero);
        await using var factory = CreateFactory(2, testServices: services => services.AddSingleton<TimeProvider>(new FrozenTime(frozen)));
        using var client = factory.CreateClient();

        var answers = await GetPartitionsAsync(client, 4);

        Assert.Equal(2, answers.Select(a => a.Partition).Distinct().Count());
        Assert.All(answers, a => Assert.Equal(frozen, a.Time));
    }

    [Fact]
    public async Task ConfigureTestServices_ReplacingAPartitionLocalService_ReachesEveryPartition()
    {
        var shared = new PartitionStats();
        await using var factory = CreateFactory(2, testServices: services => services.RemoveAll<PartitionStats>().AddSingleton(shared));
        using var client = factory.CreateClient();

        var answers = await GetPartitionsAsync(client, 4);

        Assert.Equal(2, answers.Select(a => a.Partition).Distinct().Count());
        Assert.All(answers, a => Assert.Equal(shared.InstanceId, a.Instance));
    }

    [Fact]
    public async Task ConfigurePartitions_InATest_KeepsOneInstancePerPartition()
    {
        var created = 0;
        await using var factory = CreateFactory(2, testServices: services => services.ConfigurePartitions(partition =>
            partition.Services.AddSingleton(_ =>
            {
                Interlocked.Increment(ref created);
                return new PartitionStats();
            })));
        using var client = factory.CreateClient();

        var answers = await GetPartitionsAsync(client, 4);

        Assert.Equal(2, created);
        Assert.Equal(2, answers.Select(a => a.Instance).Distinct().Count());
    }

    private sealed class FrozenTime(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}
