using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using PartitionedHosting.Tests.Infrastructure;

namespace PartitionedHosting.Tests.Functional;

/// <summary>How new connections to real Kestrel spread over partitions, and that a connection keeps its partition.</summary>
public sealed class ConnectionDistributionTests
{
    [Fact]
    public async Task AFailingDistributionPolicy_IsLogged_AndConnectionsAreStillServed()
    {
        var logs = new LogRecorder();
        var settings = Settings.Partitioned(2, "SingleThreaded", distribution: "Broken");
        await using var app = await KestrelTestApp.StartAsync(
            settings,
            a => a.MapGet("/partition", (IPartitionContext partition) => partition.Id.ToString(CultureInfo.InvariantCulture)),
            configure: b =>
            {
                b.Logging.AddProvider(logs);
                b.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IConnectionDistributionPolicy, BrokenPolicy>());
            });
        using var client = app.CreateClient(newConnectionPerRequest: true);

        var served = new HashSet<string>();
        for (var i = 0; i < 6; i++)
        {
            served.Add(await client.GetStringAsync("/partition").WaitAsync(KestrelTestApp.Timeout));
        }

        Assert.Equal(["0", "1"], served.Order());
        Assert.Contains(logs.Entries, e => e.EventId.Id == 19 && e.Message.Contains("'Broken'", StringComparison.Ordinal));
    }

    private sealed class BrokenPolicy : IConnectionDistributionPolicy
    {
        public string Name => "Broken";

        public int SelectPartition(ConnectionDistributionContext context) => throw new InvalidOperationException("broken on purpose");
    }

    private static void MapPartition(WebApplication app) =>
        app.MapGet("/partition", (IPartitionContext partition) => partition.Id.ToString(CultureInfo.InvariantCulture));

    private static async Task<int> GetPartitionAsync(HttpClient client) =>
        int.Parse(await client.GetStringAsync("/partition"), CultureInfo.InvariantCulture);

    [Theory]
    [InlineData("SingleThreaded")]
    [InlineData("FreeThreaded")]
    public async Task RoundRobin_NewConnectionsTakePartitionsInTurn(string mode)
    {
        await using var app = await KestrelTestApp.StartAsync(Settings.Partitioned(4, mode), MapPartition);
        using var client = app.CreateClient(newConnectionPerRequest: true);

        var partitions = new List<int>();
        for (var i = 0; i < 12; i++)
        {
            partitions.Add(await GetPartitionAsync(client));
        }

        var first = partitions[0];
        Assert.Equal(Enumerable.Range(0, 12).Select(i => (first + i) % 4), partitions);
    }

    [Theory]
    [InlineData("SingleThreaded")]
    [InlineData("FreeThreaded")]
    public async Task KeepAliveConnection_StaysOnOnePartition(string mode)
    {
        await using var app = await KestrelTestApp.StartAsync(Settings.Partitioned(4, mode), MapPartition);
        using var warmup = app.CreateClient(newConnectionPerRequest: true);
        await GetPartitionAsync(warmup);
        using var client = app.CreateClient();

        var partitions = new HashSet<int>();
        for (var i = 0; i < 20; i++)
        {
            partitions.Add(await GetPartitionAsync(client));
        }

        Assert.Single(partitions);
    }

    [Fact]
    public async Task LeastConnections_NewConnectionGoesToPartitionWithFewestOpen()
    {
        await using var app = await KestrelTestApp.StartAsync(Settings.Partitioned(3, "SingleThreaded", "LeastConnections"), MapPartition);
        var clients = Enumerable.Range(0, 3).Select(_ => app.CreateClient()).ToList();
        try
        {
            var partitions = new List<int>();
            foreach (var client in clients)
            {
                partitions.Add(await GetPartitionAsync(client));
            }

            Assert.Equal([0, 1, 2], partitions);

            // Close the connection of partition 1: the next connection must go there.
            clients[1].Dispose();
            var partition1 = app.Runtime.Partitions[1];
            await KestrelTestApp.WaitUntilAsync(() => partition1.ActiveConnections == 0, "partition 1 sees its connection closed");

            using var next = app.CreateClient();
            Assert.Equal(1, await GetPartitionAsync(next));
            Assert.All(app.Runtime.Partitions, p => Assert.Equal(1, p.ActiveConnections));
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
        }
    }

    [Fact]
    public async Task PowerOfTwoChoices_KeepsOpenConnectionsBalanced()
    {
        // With two partitions the two choices are both partitions, so each new connection must go to the one with
        // fewer open connections.
        await using var app = await KestrelTestApp.StartAsync(Settings.Partitioned(2, "SingleThreaded", "PowerOfTwoChoices"), MapPartition);
        var clients = new List<HttpClient>();
        try
        {
            for (var i = 0; i < 10; i++)
            {
                var client = app.CreateClient();
                clients.Add(client);
                await GetPartitionAsync(client);
                var counts = app.Runtime.Partitions.Select(p => p.ActiveConnections).ToArray();
                Assert.InRange(Math.Abs(counts[0] - counts[1]), 0, 1);
            }

            Assert.All(app.Runtime.Partitions, p => Assert.Equal(5, p.ActiveConnections));
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
        }
    }

    [Fact]
    public async Task ClientAddressHash_SameClientAlwaysLandsOnItsStablePartition()
    {
        await using var app = await KestrelTestApp.StartAsync(Settings.Partitioned(4, "SingleThreaded", "ClientAddressHash"), MapPartition);
        using var client = app.CreateClient(newConnectionPerRequest: true);

        var partitions = new HashSet<int>();
        for (var i = 0; i < 10; i++)
        {
            partitions.Add(await GetPartitionAsync(client));
        }

        // 127.0.0.1 over 4 partitions, by an independent implementation (FNV-1a 64 with the MurmurHash3 finalizer, then
        // Lamping and Veach's jump hash): pinned, so that a client keeps its partition across releases.
        Assert.Equal([1], partitions);
    }

    [Theory]
    [InlineData("FreeThreaded", "1.1")]
    [InlineData("SingleThreaded", "1.1")]
    [InlineData("FreeThreaded", "2.0")]
    [InlineData("SingleThreaded", "2.0")]
    public async Task PartitionFeature_NamesThePartitionServingTheRequest_FromTheConnectionForHttp1(string mode, string version)
    {
        await using var app = await KestrelTestApp.StartAsync(
            Settings.Partitioned(2, mode),
            a => a.MapGet("/feature", (HttpContext context, IPartitionContext partition) => string.Join(' ',
                ReferenceEquals(context.Features.Get<IPartitionFeature>()?.Partition, partition) ? "same" : "different",
                // Kestrel lists the request's own features only: an HTTP/1.x request leaves it to its connection's.
                context.Features.Any(feature => feature.Key == typeof(IPartitionFeature)) ? "own" : "connection's")),
            protocols: version == "2.0" ? HttpProtocols.Http2 : HttpProtocols.Http1);
        using var client = app.CreateClient(version: Version.Parse(version));

        var expected = version == "2.0" ? "same own" : "same connection's";
        Assert.Equal(expected, await client.GetStringAsync("/feature"));
        Assert.Equal(expected, await client.GetStringAsync("/feature"));
    }
}
