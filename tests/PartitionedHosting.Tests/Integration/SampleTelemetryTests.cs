using System.Diagnostics;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Trace;
using PartitionedHosting.Tests.Infrastructure;

namespace PartitionedHosting.Tests.Integration;

/// <summary>The sample's server spans, exported through OpenTelemetry, say where each request ran.</summary>
public sealed class SampleTelemetryTests
{
    [Fact]
    public async Task ServerSpans_CarryThePartitionItsGenerationAndTheKeysSlot()
    {
        var exported = new ExportedSpans();
        await using var factory = new WebApplicationFactory<Program>().WithWebHostBuilder(web =>
        {
            web.ConfigureAppConfiguration((_, config) => config.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["PartitionedHosting:PartitionCount"] = "2",
                ["PartitionedHosting:Mode"] = "SingleThreaded",
            }));
            web.ConfigureTestServices(services => services.AddOpenTelemetry().WithTracing(tracing => tracing.AddAspNetCoreInstrumentation().AddInMemoryExporter(exported)));
        });
        using var client = factory.CreateClient();
        var invoker = factory.Services.GetRequiredService<IPartitionInvoker>();

        // A trace of the test's own: the instrumentation listens to every host in the process, other tests' included.
        var trace = ActivityTraceId.CreateRandom();
        client.DefaultRequestHeaders.Add("traceparent", $"00-{trace}-{ActivitySpanId.CreateRandom()}-01");
        (await client.PostAsync("/counters/pear", null).WaitAsync(KestrelTestApp.Timeout)).EnsureSuccessStatusCode();
        (await client.GetAsync("/partition").WaitAsync(KestrelTestApp.Timeout)).EnsureSuccessStatusCode();

        Activity[] Spans() => exported.Of(trace);
        await KestrelTestApp.WaitUntilAsync(() => Spans().Length == 2, "both server spans were exported");
        var keyed = Spans().Single(a => a.GetTagItem("url.path") as string == "/counters/pear");
        Assert.Equal(invoker.GetPartitionForKey("pear"), keyed.GetTagItem("partition.id"));
        Assert.Equal(1, keyed.GetTagItem("partition.generation"));
        Assert.Equal(PartitionKeySlots.GetSlot("pear"), keyed.GetTagItem("partition.key.slot"));
        var plain = Spans().Single(a => a.GetTagItem("url.path") as string == "/partition");
        Assert.IsType<int>(plain.GetTagItem("partition.id"));
        Assert.Null(plain.GetTagItem("partition.key.slot"));
    }
}
