using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.DependencyInjection;
using PartitionedHosting.Partitions;
using PartitionedHosting.Tests.Infrastructure;

namespace PartitionedHosting.Tests.Functional;

/// <summary>Keyed endpoints on real Kestrel: every request for a key runs on the key's owner partition.</summary>
public sealed class KeyAffinityTests
{
    private static void MapKeyed(WebApplication app)
    {
        app.MapGet("/keyed/{key}", (string key, IPartitionContext partition) => Answer(partition)).WithPartitionKey("key");
        app.MapGet("/header", (IPartitionContext partition) => Answer(partition)).WithPartitionKey(PartitionKeySource.Header, "X-Tenant");
        app.MapGet("/query", (IPartitionContext partition) => Answer(partition)).WithPartitionKey(PartitionKeySource.Query, "tenant");
        app.MapGet("/configured/{id}", (IPartitionContext partition) => Answer(partition));
        app.MapControllers();
    }

    /// <summary>The partition, and whether the code ran on its thread.</summary>
    private static string Answer(IPartitionContext partition) =>
        $"{partition.Id} {partition.Mode == ExecutionMode.FreeThreaded || ((PartitionInstance)partition).Thread!.ManagedThreadId == Environment.CurrentManagedThreadId}";

    private static Task<KestrelTestApp> StartAsync(string mode, Action<Dictionary<string, string?>>? settings = null)
    {
        var values = Settings.Partitioned(4, mode);
        values["PartitionedHosting:Keys:0:Pattern"] = "/configured/{id}";
        values["PartitionedHosting:Keys:0:Name"] = "id";
        settings?.Invoke(values);
        return KestrelTestApp.StartAsync(values, MapKeyed, configure: b => b.Services.AddControllers().AddApplicationPart(typeof(KeyAffinityTests).Assembly));
    }

    [Theory]
    [InlineData("SingleThreaded")]
    [InlineData("FreeThreaded")]
    public async Task SameKey_RunsOnItsOwner_WhicheverConnectionItArrivesOn(string mode)
    {
        await using var app = await StartAsync(mode);
        var invoker = app.Services.GetRequiredService<IPartitionInvoker>();
        using var newConnections = app.CreateClient(newConnectionPerRequest: true);
        using var keepAlive = app.CreateClient();

        var perPartition = new int[4];
        for (var i = 0; i < 200; i++)
        {
            var key = $"cart-{i}";
            var owner = invoker.GetPartitionForKey(key);
            perPartition[owner]++;
            Assert.Equal($"{owner} True", await newConnections.GetStringAsync($"/keyed/{key}"));
            Assert.Equal($"{owner} True", await keepAlive.GetStringAsync($"/keyed/{key}"));
        }

        // 200 keys over 4 partitions: each gets 50 on average; the hash keeps every one within 35 % of that.
        Assert.All(perPartition, count => Assert.InRange(count, 33, 67));
    }

    [Fact]
    public async Task KeysFromHeaderQueryConfigurationAndControllerAttributes_AllReachTheOwner()
    {
        await using var app = await StartAsync("SingleThreaded");
        var invoker = app.Services.GetRequiredService<IPartitionInvoker>();
        using var client = app.CreateClient(newConnectionPerRequest: true);

        for (var i = 0; i < 12; i++)
        {
            var key = $"tenant-{i}";
            var expected = $"{invoker.GetPartitionForKey(key)} True";
            using var header = new HttpRequestMessage(HttpMethod.Get, "/header");
            header.Headers.Add("X-Tenant", key);
            Assert.Equal(expected, await (await client.SendAsync(header)).Content.ReadAsStringAsync());
            Assert.Equal(expected, await client.GetStringAsync($"/query?tenant={key}"));
            Assert.Equal(expected, await client.GetStringAsync($"/configured/{key}"));
            Assert.Equal(expected, await client.GetStringAsync($"/keyed-orders/{key}"));
        }
    }

    [Theory]
    [InlineData("BadRequest", HttpStatusCode.BadRequest)]
    [InlineData("ServiceUnavailable", HttpStatusCode.ServiceUnavailable)]
    [InlineData("RunOnCurrentPartition", HttpStatusCode.OK)]
    public async Task MissingOrUnreadableKey_FollowsTheConfiguredFailurePolicy(string failure, HttpStatusCode expected)
    {
        await using var app = await StartAsync("SingleThreaded", s => s["PartitionedHosting:KeyFailure"] = failure);
        using var client = app.CreateClient();

        using var missing = await client.GetAsync("/header");
        using var twice = new HttpRequestMessage(HttpMethod.Get, "/header");
        twice.Headers.Add("X-Tenant", ["a", "b"]);
        using var unreadable = await client.SendAsync(twice);
        using var repeatedQuery = await client.GetAsync("/query?tenant=a&tenant=b");

        Assert.Equal(expected, missing.StatusCode);
        Assert.Equal(expected, unreadable.StatusCode);
        Assert.Equal(expected, repeatedQuery.StatusCode);
        if (expected == HttpStatusCode.ServiceUnavailable)
        {
            Assert.NotNull(missing.Headers.RetryAfter);
        }
    }

    [Fact]
    public async Task RequestMovedToItsOwner_UsesTheOwnersServices_AndReturnsToItsPartitionAfterwards()
    {
        var after = new System.Collections.Concurrent.ConcurrentQueue<string>();
        await using var app = await KestrelTestApp.StartAsync(
            Settings.Partitioned(2, "SingleThreaded"),
            a =>
            {
                a.Use(async (context, next) =>
                {
                    var before = context.Features.GetRequiredFeature<IPartitionFeature>().Partition;
                    await next(context);
                    var partition = (PartitionInstance)context.Features.GetRequiredFeature<IPartitionFeature>().Partition;
                    after.Enqueue($"{ReferenceEquals(before, partition)} {partition.Thread!.ManagedThreadId == Environment.CurrentManagedThreadId}");
                });
                a.MapGet("/owned/{key}", (string key, Stamp stamp, IPartitionContext partition) => $"{partition.Id} {stamp.Partition}").WithPartitionKey("key");
            },
            partition => partition.Services.AddSingleton(sp => new Stamp(sp.GetRequiredService<IPartitionContext>().Id)));
        var invoker = app.Services.GetRequiredService<IPartitionInvoker>();
        using var client = app.CreateClient();

        for (var i = 0; i < 10; i++)
        {
            var owner = invoker.GetPartitionForKey($"k{i}");
            Assert.Equal($"{owner} {owner}", await client.GetStringAsync($"/owned/k{i}"));
        }

        Assert.All(after, a => Assert.Equal("True True", a));
    }

    public sealed record Stamp(int Partition);
}

/// <summary>A controller whose actions declare their partition key with the attribute.</summary>
[ApiController]
[Route("keyed-orders/{id}")]
public sealed class KeyedOrdersController(IPartitionContext partition) : ControllerBase
{
    [HttpGet]
    [PartitionKey("id")]
    public string Get(string id) =>
        $"{partition.Id} {partition.Mode == ExecutionMode.FreeThreaded || ((PartitionInstance)partition).Thread!.ManagedThreadId == Environment.CurrentManagedThreadId}";
}
