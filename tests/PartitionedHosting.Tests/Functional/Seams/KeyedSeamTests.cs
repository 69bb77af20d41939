using System.Globalization;
using System.Security.Claims;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using PartitionedHosting.Tests.Infrastructure;

namespace PartitionedHosting.Tests.Functional.Seams;

/// <summary>
/// Keyed requests run on their key's owner with the owner's guarantee, whichever partition's connection they came on,
/// pipelined or not: in mixed modes a free-threaded owner's code never runs on a single-threaded partition's thread; a
/// request whose key can only be read after routing (a claim) moves to its owner for the endpoint and its callbacks, with
/// the owner's log scope, and comes back.
/// </summary>
public sealed class KeyedSeamTests
{
    public static TheoryData<string, PartitionKeySource> Cases
    {
        get
        {
            var cases = new TheoryData<string, PartitionKeySource>();
            foreach (var layout in SeamLayouts.All)
            {
                cases.Add(layout, PartitionKeySource.Route);
                cases.Add(layout, PartitionKeySource.Claim);
            }

            return cases;
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task KeyedRequests_RunOnTheirOwnerWithItsGuarantee_FromEveryPartitionsConnections_PipelinedOrNot(string layout, PartitionKeySource source)
    {
        var moved = 0;
        var logs = new LogRecorder();
        await using var app = await KestrelTestApp.StartAsync(
            SeamLayouts.Settings(layout),
            a =>
            {
                a.Use(async (context, next) =>
                {
                    // Authentication of a kind: the claim exists only from here on, after the partitioning middleware,
                    // so that a claim-keyed request can only find its owner after routing.
                    if (context.Request.Headers["X-Tenant"] is [{ } tenant])
                    {
                        context.User = new ClaimsPrincipal(new ClaimsIdentity([new Claim("tenant", tenant)], "test"));
                    }

                    var recorder = context.RequestServices.GetRequiredService<SegmentRecorder>();
                    recorder.Segment("middleware");
                    await next(context);
                    recorder.Segment("middleware after next");
                    if (context.Items["owner"] is int owner && owner != recorder.Partition.Id)
                    {
                        Interlocked.Increment(ref moved);
                    }
                });
                a.MapGet("/owned/{key}", Owned).WithPartitionKey("key");
                a.MapGet("/claimed", Owned).WithPartitionKey(PartitionKeySource.Claim, "tenant");
            },
            partition => partition.Services.AddSingleton<SegmentRecorder>(),
            builder => builder.Logging.AddProvider(logs));
        var invoker = app.Services.GetRequiredService<IPartitionInvoker>();

        string Path(string key) => source == PartitionKeySource.Route ? $"/owned/{key}" : "/claimed";

        await Load.RunAsync(Load.Clients, rounds: 1, async (client, _) =>
        {
            // Pipelined: one key per connection, since a header is per connection here; and one key per request
            // on a keep-alive connection.
            using var raw = await RawHttpClient.ConnectAsync(app.Address);
            var pipelinedKey = $"p{client}";
            var answers = await raw.PipelineAsync(Enumerable.Repeat(Path(pipelinedKey), 6), new Dictionary<string, string> { ["X-Tenant"] = pipelinedKey });
            Assert.All(answers, a => Assert.Equal(invoker.GetPartitionForKey(pipelinedKey).ToString(CultureInfo.InvariantCulture), a));

            using var http = app.CreateClient();
            for (var i = 0; i < 6; i++)
            {
                var key = $"k{client}-{i}";
                using var request = new HttpRequestMessage(HttpMethod.Get, Path(key));
                request.Headers.Add("X-Tenant", key);
                using var response = await http.SendAsync(request);
                Assert.Equal(invoker.GetPartitionForKey(key).ToString(CultureInfo.InvariantCulture), await response.Content.ReadAsStringAsync());
            }
        });

        SeamLayouts.AssertHeld(app, $"keyed by {source}", everyPartition: false);

        // Logs of the endpoint carry its owner's partition id; a claim key could only be found after routing, so
        // those requests moved from their connection's partition to the owner and back.
        var endpointLogs = logs.Category<KeyedSeamTests>().ToList();
        Assert.Equal(Load.Clients * 12, endpointLogs.Count);
        Assert.All(endpointLogs, e => Assert.Equal(e.Message, e.PartitionId));
        if (source == PartitionKeySource.Claim)
        {
            Assert.True(moved > Load.Clients, $"only {moved} requests moved to their owner");
        }
    }

    private static async Task<string> Owned(HttpContext context, SegmentRecorder recorder, IPartitionContext partition, ILogger<KeyedSeamTests> logger)
    {
        context.Items["owner"] = partition.Id;
        recorder.Segment("keyed endpoint");
        context.Response.OnStarting(() =>
        {
            recorder.Segment("keyed OnStarting");
            return Task.CompletedTask;
        });
        context.Response.OnCompleted(async () =>
        {
            recorder.Segment("keyed OnCompleted");
            await Task.Yield();
            recorder.Segment("keyed OnCompleted after await");
        });
        await Task.Delay(1);
        recorder.Segment("keyed endpoint after await");
        logger.LogWarning("{PartitionId}", partition.Id);
        return partition.Id.ToString(CultureInfo.InvariantCulture);
    }
}
