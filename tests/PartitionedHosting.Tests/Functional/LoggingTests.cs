using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using PartitionedHosting.Tests.Infrastructure;

namespace PartitionedHosting.Tests.Functional;

/// <summary>Logs written during a partitioned request carry the partition id as a structured field.</summary>
public sealed class LoggingTests
{
    [Theory]
    [InlineData("SingleThreaded")]
    [InlineData("FreeThreaded")]
    public async Task LogsOfRequestCode_CarryThePartitionId_AcrossAwaits(string mode)
    {
        var provider = new LogRecorder();
        await using var app = await KestrelTestApp.StartAsync(
            Settings.Partitioned(2, mode),
            a => a.MapGet("/log", async (ILogger<LoggingTests> logger, IPartitionContext partition) =>
            {
                logger.LogWarning("before");
                await Task.Delay(5);
                logger.LogWarning("after");
                return partition.Id.ToString(System.Globalization.CultureInfo.InvariantCulture);
            }),
            configure: b => b.Logging.AddProvider(provider));
        using var client = app.CreateClient(newConnectionPerRequest: true);

        var partitions = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            partitions.Add(await client.GetStringAsync("/log"));
        }

        var logged = provider.Entries.Where(e => e.Category == typeof(LoggingTests).FullName).ToList();
        Assert.Equal(8, logged.Count);
        Assert.Equal(partitions.SelectMany(p => new[] { p, p }), logged.Select(e => e.PartitionId));
    }

    [Fact]
    public async Task LogsOfRequestCode_CarryThePartitionGeneration_WhichARecycleChanges()
    {
        var provider = new LogRecorder();
        await using var app = await KestrelTestApp.StartAsync(
            Settings.Partitioned(1, "SingleThreaded"),
            a => a.MapGet("/log", (ILogger<LoggingTests> logger) => logger.LogWarning("logged")),
            configure: b => b.Logging.AddProvider(provider));
        using var client = app.CreateClient(newConnectionPerRequest: true);

        await client.GetAsync("/log");
        await app.Services.GetRequiredService<IPartitionManager>().RecycleAsync(0).WaitAsync(KestrelTestApp.Timeout);
        await client.GetAsync("/log");

        Assert.Equal([("0", "1"), ("0", "2")], provider.Category<LoggingTests>().Select(e => (e.PartitionId, e.Generation)));
    }
}
