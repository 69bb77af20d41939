using Microsoft.AspNetCore.Builder;
using PartitionedHosting.Tests.Infrastructure;

namespace PartitionedHosting.Tests.Functional;

/// <summary>A partition's thread shares itself fairly between its connections.</summary>
public sealed class FairnessTests
{
    [Theory]
    [InlineData("Kestrel")]
    [InlineData("Partitioned")]
    public async Task APipelinedBurstOnOneConnection_DoesNotStarveThePartitionsOtherConnections(string transport)
    {
        const int Burst = 400;
        var order = new List<string>();
        var burstStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var settings = Settings.Partitioned(1, "SingleThreaded");
        settings["PartitionedHosting:Transport"] = transport;
        await using var app = await KestrelTestApp.StartAsync(settings, a => a.MapGet("/step/{connection}/{n:int}", (string connection, int n) =>
        {
            // Synchronous requests, about 20 µs each: the burst alone would hold the thread for about 8 ms.
            Thread.SpinWait(10_000);
            lock (order)
            {
                order.Add($"{connection}{n}");
            }

            if (connection == "burst" && n == 0)
            {
                burstStarted.TrySetResult();
            }

            return "ok";
        }));
        using var burst = await RawHttpClient.ConnectAsync(app.Address);
        using var other = app.CreateClient();
        Assert.Equal("ok", await other.GetStringAsync("/step/warmup/0"));

        var burstResponses = burst.PipelineAsync(Enumerable.Range(0, Burst).Select(n => $"/step/burst/{n}"));
        await burstStarted.Task.WaitAsync(KestrelTestApp.Timeout);
        Assert.Equal("ok", await other.GetStringAsync("/step/other/0").WaitAsync(KestrelTestApp.Timeout));
        Assert.All(await burstResponses.WaitAsync(KestrelTestApp.Timeout), r => Assert.Equal("ok", r));

        // The other connection's request, sent once the burst had started, ran before the burst was over.
        lock (order)
        {
            var other0 = order.IndexOf("other0");
            Assert.True(other0 < order.IndexOf($"burst{Burst - 1}"), $"The other connection's request ran after the whole burst (at {other0} of {order.Count}).");
        }
    }
}
