using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Options;
using PartitionedHosting.Execution;
using PartitionedHosting.Partitions;
using PartitionedHosting.Tests.Infrastructure;

namespace PartitionedHosting.Tests.Functional;

/// <summary>Invalid configuration stops the application before it serves, naming every problem.</summary>
public sealed class ConfigurationTests
{
    [Fact]
    public async Task InvalidConfiguration_FailsAtStartup_WithOneMessageNamingEveryKeyAndItsAllowedValues()
    {
        var settings = new Dictionary<string, string?>
        {
            ["PartitionedHosting:PartitionCount"] = "0",
            ["PartitionedHosting:Mode"] = "Fast",
            ["PartitionedHosting:ConnectionDistribution"] = "Random",
            ["PartitionedHosting:Admission:MaxQueueLength"] = "-1",
            ["PartitionedHosting:Partitions:5:Mode"] = "SingleThreaded",
            ["PartitionedHosting:PartitionCont"] = "4",
        };
        await using var app = KestrelTestApp.Build(settings, _ => { });

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync().WaitAsync(KestrelTestApp.Timeout));

        Assert.Contains("PartitionedHosting:PartitionCount = '0' is not valid; allowed values: an integer from 1 to 1024.", error.Message, StringComparison.Ordinal);
        Assert.Contains("PartitionedHosting:Mode = 'Fast' is not valid; allowed values: FreeThreaded, SingleThreaded.", error.Message, StringComparison.Ordinal);
        Assert.Contains("PartitionedHosting:ConnectionDistribution = 'Random' is not valid; allowed values: ClientAddressHash, LeastConnections, PowerOfTwoChoices, RoundRobin.", error.Message, StringComparison.Ordinal);
        Assert.Contains("PartitionedHosting:Admission:MaxQueueLength = '-1' is not valid; allowed values: an integer of 1 or more.", error.Message, StringComparison.Ordinal);
        Assert.Contains("PartitionedHosting:Partitions:5 names partition 5, which does not exist", error.Message, StringComparison.Ordinal);
        Assert.Contains("PartitionedHosting:PartitionCont is not a known setting", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task InvalidClusterAndHandoffSettings_FailAtStartup_NamingTheKeyAndTheAllowedValues()
    {
        var settings = new Dictionary<string, string?>
        {
            ["PartitionedHosting:Cluster:Nodes:0"] = "http://10.0.0.1:80",
            ["PartitionedHosting:Cluster:Nodes:1"] = "http://10.0.0.1:80/",
            ["PartitionedHosting:Cluster:Self"] = "http://10.0.0.9:80",
            ["PartitionedHosting:Cluster:Seeds"] = "x",
            ["PartitionedHosting:HandoffTimeout"] = "00:00:00",
        };
        await using var app = KestrelTestApp.Build(settings, _ => { });

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync().WaitAsync(KestrelTestApp.Timeout));

        Assert.Contains("PartitionedHosting:Cluster:Nodes:1 = 'http://10.0.0.1:80/' is listed twice", error.Message, StringComparison.Ordinal);
        Assert.Contains("PartitionedHosting:Cluster:Self = 'http://10.0.0.9:80' is not a node; allowed values: 0 to 1, or one of http://10.0.0.1:80, http://10.0.0.1:80/.", error.Message, StringComparison.Ordinal);
        Assert.Contains("PartitionedHosting:Cluster:Seeds is not a known setting; known settings are Nodes, Self.", error.Message, StringComparison.Ordinal);
        Assert.Contains("PartitionedHosting:HandoffTimeout", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PerPartitionIdleResume_ReachesEachPartitionsThread_AndSurvivesARecycle()
    {
        var settings = Settings.Partitioned(3, "SingleThreaded");
        settings["PartitionedHosting:IdleResume"] = "ThreadPool";
        settings["PartitionedHosting:Partitions:1:IdleResume"] = "Thread";
        await using var app = await KestrelTestApp.StartAsync(settings, _ => { });

        Assert.Equal([true, false, true], app.Runtime.Partitions.Select(p => p.Current.Thread!.ResumeOnThreadPool));

        await app.Runtime.RecycleAsync(1).WaitAsync(KestrelTestApp.Timeout);
        await app.Runtime.RecycleAsync(2).WaitAsync(KestrelTestApp.Timeout);
        Assert.Equal([true, false, true], app.Runtime.Partitions.Select(p => p.Current.Thread!.ResumeOnThreadPool));
        Assert.All(app.Runtime.Partitions.Skip(1), p => Assert.Equal(2, p.Current.Generation));
    }

    [Fact]
    public async Task PerPartitionMode_MixesModesInOneProcess()
    {
        var settings = Settings.Partitioned(3, "SingleThreaded");
        settings["PartitionedHosting:Partitions:1:Mode"] = "FreeThreaded";
        settings["PartitionedHosting:Partitions:2:MaxQueueLength"] = "7";
        await using var app = await KestrelTestApp.StartAsync(settings, a => a.MapGet("/mode", (IPartitionContext p) =>
            $"{p.Id} {p.Mode} {(PartitionThread.Current is { } thread ? thread == ((PartitionInstance)p).Thread ? "own thread" : "another's thread" : "thread pool")}"));
        using var client = app.CreateClient(newConnectionPerRequest: true);

        // Round robin: three new connections, one per partition, each served in its own mode.
        var answers = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            answers.Add(await client.GetStringAsync("/mode"));
        }

        Assert.Equal(["0 SingleThreaded own thread", "1 FreeThreaded thread pool", "2 SingleThreaded own thread"], answers.Order());
        Assert.Null(app.Runtime.Partitions[1].Thread);
    }
}
