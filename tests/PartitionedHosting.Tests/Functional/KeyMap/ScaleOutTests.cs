using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using PartitionedHosting.Tests.Infrastructure;
using PartitionedHosting.Yarp;
using Yarp.ReverseProxy.Configuration;

namespace PartitionedHosting.Tests.Functional.KeyMap;

/// <summary>Three nodes behind YARP on 127.0.0.1, all on one key map computed from the same configuration.</summary>
public sealed class ScaleOutTests : IAsyncLifetime
{
    private readonly int[] _ports = [KestrelTestApp.FreePort(), KestrelTestApp.FreePort(), KestrelTestApp.FreePort()];
    private KestrelTestApp[] _nodes = [];
    private WebApplication _proxy = null!;
    private Uri _proxyAddress = null!;

    private string[] NodeNames => [.. _ports.Select(p => $"http://127.0.0.1:{p}")];

    /// <summary>The configuration every node and the proxy share: the key rule and the node list.</summary>
    private Dictionary<string, string?> Shared()
    {
        var settings = new Dictionary<string, string?>
        {
            ["PartitionedHosting:Keys:0:Pattern"] = "/counters/{key}",
            ["PartitionedHosting:Keys:0:Name"] = "key",
        };
        for (var i = 0; i < _ports.Length; i++)
        {
            settings[$"PartitionedHosting:Cluster:Nodes:{i}"] = NodeNames[i];
        }

        return settings;
    }

    public async Task InitializeAsync()
    {
        _nodes = await Task.WhenAll(_ports.Select((port, i) =>
        {
            var settings = Settings.Partitioned(2, "SingleThreaded");
            foreach (var (key, value) in Shared())
            {
                settings[key] = value;
            }

            settings["PartitionedHosting:Cluster:Self"] = i.ToString(CultureInfo.InvariantCulture);
            var node = NodeNames[i];
            return KestrelTestApp.StartAsync(
                settings,
                app =>
                {
                    // Keyed by configuration only, as the proxy reads it.
                    app.MapPost("/counters/{key}", (string key, KeyedState state, IPartitionContext partition) => $"{node} {state.Increment(partition, key)}");
                    app.MapGet("/counters/{key}", (string key, KeyedState state, IPartitionContext partition) => state.Get(partition, key));
                    app.MapGet("/healthz", () => "ok").WithoutPartition();
                },
                partition => partition.Services.AddSingleton<KeyedState>(),
                configure: b =>
                {
                    b.Services.AddSingleton<HandoffControl>();
                    b.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, port));
                });
        }));

        (_proxy, _proxyAddress) = await StartProxyAsync(NodeNames);
    }

    [Fact]
    public async Task OnlyOneDestinationAvailable_AKeyOfAnotherNodeStillFailsClosed_InsteadOfGoingToTheOneThatIsUp()
    {
        // YARP does not ask the policy when one destination is available (the others down by health checks): the
        // pipeline step narrows the destinations to the owner first, so the key never reaches another node.
        var cluster = _nodes[0].Runtime.Cluster!;
        var (proxy, address) = await StartProxyAsync([NodeNames[0]]);
        await using var disposeProxy = proxy;
        var otherKey = Enumerable.Range(0, 100).Select(i => $"k{i}").First(k => cluster.GetNodeForKey(k) != cluster.Nodes[0]);
        var ownKey = Enumerable.Range(0, 100).Select(i => $"k{i}").First(k => cluster.GetNodeForKey(k) == cluster.Nodes[0]);
        using var client = new HttpClient { BaseAddress = address, Timeout = KestrelTestApp.Timeout };

        using (var response = await client.PostAsync($"/counters/{otherKey}", null))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.NotNull(response.Headers.RetryAfter);
        }

        using (var response = await client.PostAsync($"/counters/{ownKey}", null))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.All(_nodes, n => Assert.Equal(0, n.Runtime.Metrics.MisdirectedCount));
    }

    /// <summary>YARP with the PartitionKey policy in front of <paramref name="destinations"/>, configured as the nodes are.</summary>
    private async Task<(WebApplication App, Uri Address)> StartProxyAsync(string[] destinations)
    {
        var builder = WebApplication.CreateBuilder();
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(Shared());
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Services.AddReverseProxy()
            .LoadFromMemory(
                [new RouteConfig { RouteId = "all", ClusterId = "nodes", Match = new RouteMatch { Path = "{**rest}" } }],
                [new ClusterConfig
                {
                    ClusterId = "nodes",
                    LoadBalancingPolicy = PartitionKeyLoadBalancingPolicy.PolicyName,
                    Destinations = destinations.Select((n, i) => (n, i)).ToDictionary(d => $"node{d.i}", d => new DestinationConfig { Address = d.n + "/" }),
                }])
            .AddPartitionKeyLoadBalancing();
        var app = builder.Build();
        app.MapReverseProxy(proxy =>
        {
            proxy.UsePartitionOwnerFailClosed();
            proxy.UseLoadBalancing();
        });
        await app.StartAsync().WaitAsync(KestrelTestApp.Timeout);
        return (app, new Uri(app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First()));
    }

    public async Task DisposeAsync()
    {
        await _proxy.DisposeAsync();
        foreach (var node in _nodes)
        {
            await node.DisposeAsync();
        }
    }

    [Fact]
    public async Task KeysThroughTheProxy_AreServedEachByOneNodeAndOnePartition_WithExactTotals_AndNoMisdirectedRequest()
    {
        const int keys = 300;
        var served = new System.Collections.Concurrent.ConcurrentDictionary<string, System.Collections.Concurrent.ConcurrentBag<string>>();
        var clients = Enumerable.Range(0, 6).Select(_ => new HttpClient { BaseAddress = _proxyAddress, Timeout = KestrelTestApp.Timeout }).ToArray();
        try
        {
            await Load.RunAsync(clients.Length, keys * 3 / clients.Length, async (c, round) =>
            {
                var key = $"user-{((round * clients.Length) + c) % keys}";
                using var response = await clients[c].PostAsync($"/counters/{key}", null);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                served.GetOrAdd(key, _ => []).Add(await response.Content.ReadAsStringAsync());
            });

            Assert.Equal(keys, served.Count);
            foreach (var (key, answers) in served)
            {
                // One node and one partition per key: the node the shared map names.
                var owner = _nodes[0].Runtime.Cluster!.GetNodeForKey(key);
                Assert.All(answers, a => Assert.Equal(answers.First(), a));
                Assert.StartsWith(owner + " ", answers.First(), StringComparison.Ordinal);
                Assert.Equal("3", await clients[0].GetStringAsync($"/counters/{key}"));
            }

            Assert.All(_nodes, n => Assert.Equal(0, n.Runtime.Metrics.MisdirectedCount));
            var servingNodes = served.Values.Select(a => a.First().Split(' ')[0]).ToHashSet();
            Assert.Equal(NodeNames.Order(), servingNodes.Order());
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
    public async Task KeySentStraightToTheWrongNode_Gets421NamingTheOwner()
    {
        const string key = "user-42";
        var owner = _nodes[0].Runtime.Cluster!.GetNodeForKey(key);
        var wrong = _nodes.First(n => n.Runtime.Cluster!.Nodes[n.Runtime.SelfNode] != owner);
        using var client = wrong.CreateClient();

        using var response = await client.PostAsync($"/counters/{key}", null);

        Assert.Equal(HttpStatusCode.MisdirectedRequest, response.StatusCode);
        Assert.Equal(owner, response.Headers.GetValues("X-Partition-Owner").Single());
        Assert.Equal(1, wrong.Runtime.Metrics.MisdirectedCount);
    }

    [Fact]
    public async Task OwnerDown_TheProxyFailsClosedWith503AndRetryAfter_AndServesTheOtherNodesKeys()
    {
        var cluster = _nodes[0].Runtime.Cluster!;
        await _nodes[2].StopAsync();
        var downKey = Enumerable.Range(0, 100).Select(i => $"k{i}").First(k => cluster.GetNodeForKey(k) == cluster.Nodes[2]);
        var upKey = Enumerable.Range(0, 100).Select(i => $"k{i}").First(k => cluster.GetNodeForKey(k) == cluster.Nodes[0]);
        using var client = new HttpClient { BaseAddress = _proxyAddress, Timeout = KestrelTestApp.Timeout };

        using (var response = await client.PostAsync($"/counters/{downKey}", null))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.NotNull(response.Headers.RetryAfter);
        }

        using (var response = await client.PostAsync($"/counters/{upKey}", null))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
    }
}
