using System.Diagnostics;
using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Trace;
using PartitionedHosting.Tests.Infrastructure;

namespace PartitionedHosting.Tests.Functional;

/// <summary>On real Kestrel: a request moved to its key's owner shows both partitions in its server span.</summary>
public sealed class TracingTests
{
    [Theory]
    [InlineData("SingleThreaded")]
    [InlineData("FreeThreaded")]
    public async Task MovedRequest_ShowsTheConnectionsPartitionAndTheKeysOwner(string mode)
    {
        var exported = new ExportedSpans();
        await using var app = await KestrelTestApp.StartAsync(
            Settings.Partitioned(2, mode),
            a =>
            {
                // A path rewritten after the partitioning middleware: the key cannot be guessed before routing, so the
                // request starts on its connection's partition and moves to the owner for the endpoint.
                a.Use((context, next) =>
                {
                    // The partition the request was dispatched to, from the request itself (a reconnect may change it).
                    var dispatchedTo = context.Features.Get<IPartitionFeature>()!.Partition.Id.ToString(CultureInfo.InvariantCulture);
                    context.Response.OnStarting(() =>
                    {
                        context.Response.Headers["X-Dispatched-To"] = dispatchedTo;
                        return Task.CompletedTask;
                    });
                    if (context.Request.Path.StartsWithSegments("/r", out var rest))
                    {
                        context.Request.Path = "/keyed" + rest;
                    }

                    return next(context);
                });
                a.UseRouting();
                a.MapGet("/where", (IPartitionContext p) => p.Id.ToString(CultureInfo.InvariantCulture));
                a.MapGet("/keyed/{key}", (string key, IPartitionContext p) => p.Id.ToString(CultureInfo.InvariantCulture)).WithPartitionKey("key");
            },
            configure: b => b.Services.AddOpenTelemetry().WithTracing(tracing => tracing.AddAspNetCoreInstrumentation().AddInMemoryExporter(exported)));
        using var client = app.CreateClient();
        var connection = int.Parse(await client.GetStringAsync("/where"), CultureInfo.InvariantCulture);
        var invoker = app.Services.GetRequiredService<IPartitionInvoker>();
        var key = Enumerable.Range(0, 100).Select(i => $"k{i}").First(k => invoker.GetPartitionForKey(k) != connection);

        // A trace of the test's own: the instrumentation listens to every host in the process, other tests' included.
        var trace = ActivityTraceId.CreateRandom();
        client.DefaultRequestHeaders.Add("traceparent", $"00-{trace}-{ActivitySpanId.CreateRandom()}-01");
        using var response = await client.GetAsync($"/r/{key}");
        Assert.Equal((1 - connection).ToString(CultureInfo.InvariantCulture), await response.Content.ReadAsStringAsync());
        connection = int.Parse(response.Headers.GetValues("X-Dispatched-To").Single(), CultureInfo.InvariantCulture);

        await KestrelTestApp.WaitUntilAsync(() => exported.Of(trace).Length == 1, "the moved request's span was exported");
        var span = exported.Of(trace)[0];
        Assert.Equal(connection, span.GetTagItem("partition.id"));
        Assert.Equal(1 - connection, span.GetTagItem("partition.owner.id"));
        Assert.Equal(1, span.GetTagItem("partition.owner.generation"));
        Assert.Equal(PartitionKeySlots.GetSlot(key), span.GetTagItem("partition.key.slot"));
    }
}
