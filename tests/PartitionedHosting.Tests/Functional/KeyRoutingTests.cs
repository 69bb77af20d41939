using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using PartitionedHosting.Tests.Infrastructure;

namespace PartitionedHosting.Tests.Functional;

/// <summary>A keyed request whose key the route template shows starts on its owner: no move there and back.</summary>
public sealed class KeyRoutingTests
{
    [Theory]
    [InlineData("SingleThreaded")]
    [InlineData("FreeThreaded")]
    public async Task KeyedRequests_RunTheirWholePipelineOnTheOwner_FromAnyConnection(string mode)
    {
        var middlewareSaw = new ConcurrentQueue<(string Path, int Partition)>();
        await using var app = await KestrelTestApp.StartAsync(
            Settings.Partitioned(3, mode),
            a =>
            {
                a.Use((context, next) =>
                {
                    middlewareSaw.Enqueue((context.Request.Path.Value!, context.Features.GetRequiredFeature<IPartitionFeature>().Partition.Id));
                    return next(context);
                });
                a.MapGet("/carts/{id}", (IPartitionContext p) => p.Id.ToString(CultureInfo.InvariantCulture)).WithPartitionKey("id");
                a.MapGet("/carts/{id:int}/total", (IPartitionContext p) => p.Id.ToString(CultureInfo.InvariantCulture)).WithPartitionKey("id");
                a.MapGet("/plain", (IPartitionContext p) => p.Id.ToString(CultureInfo.InvariantCulture));

                // A template whose first segment is a parameter: tried for every path, after the literal ones in order.
                a.MapGet("/{tenant}/orders", (IPartitionContext p) => p.Id.ToString(CultureInfo.InvariantCulture)).WithPartitionKey("tenant");
            });
        var invoker = app.Services.GetRequiredService<IPartitionInvoker>();
        using var client = app.CreateClient(newConnectionPerRequest: true);

        for (var i = 0; i < 12; i++)
        {
            var owner = invoker.GetPartitionForKey($"{i}").ToString(CultureInfo.InvariantCulture);
            Assert.Equal(owner, await client.GetStringAsync($"/carts/{i}"));
            Assert.Equal(owner, await client.GetStringAsync($"/carts/{i}/total"));
            Assert.Equal(owner, await client.GetStringAsync($"/CARTS/{i}"));
            Assert.Equal(owner, await client.GetStringAsync($"/{i}/orders"));
        }

        // The application's middleware ran on each key's owner too: the request started there.
        Assert.All(middlewareSaw.Where(m => m.Path.StartsWith("/carts/", StringComparison.OrdinalIgnoreCase)), m =>
            Assert.Equal(invoker.GetPartitionForKey(m.Path.Split('/')[2]), m.Partition));
        Assert.All(middlewareSaw.Where(m => m.Path.EndsWith("/orders", StringComparison.Ordinal)), m =>
            Assert.Equal(invoker.GetPartitionForKey(m.Path.Split('/')[1]), m.Partition));
        Assert.Equal(12 * 4, middlewareSaw.Count(m => m.Path != "/plain"));

        // Unkeyed requests still follow the connections.
        var plain = new HashSet<string>();
        for (var i = 0; i < 6; i++)
        {
            plain.Add(await client.GetStringAsync("/plain"));
        }

        Assert.Equal(3, plain.Count);
    }
}
