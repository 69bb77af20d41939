using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using PartitionedHosting.Affinity;
using PartitionedHosting.Configuration;
using PartitionedHosting.Distribution;

namespace PartitionedHosting.Tests.Unit;

public sealed class OptionsTests
{
    private static readonly ConnectionDistributionPolicyRegistry s_policies = new(
        [new RoundRobinPolicy(), new LeastConnectionsPolicy(), new PowerOfTwoChoicesPolicy(), new ClientAddressHashPolicy()]);

    private static PartitionedHostingOptions Bind(Dictionary<string, string?> settings)
    {
        var options = new PartitionedHostingOptions();
        new PartitionedHostingOptionsSetup(new ConfigurationBuilder().AddInMemoryCollection(settings).Build()).Configure(options);
        return options;
    }

    private static readonly PartitionKeyPolicyRegistry s_keyPolicies = new([new JumpHashKeyPolicy(), new RendezvousKeyPolicy()]);

    private static ValidateOptionsResult Validate(PartitionedHostingOptions options) =>
        new PartitionedHostingOptionsValidator(s_policies, s_keyPolicies).Validate(Options.DefaultName, options);

    [Fact]
    public void Defaults_AreTheDocumentedOnes()
    {
        var options = new PartitionedHostingOptions();

        Assert.Equal(Environment.ProcessorCount, options.PartitionCount);
        Assert.Equal(ExecutionMode.FreeThreaded, options.Mode);
        Assert.Equal(IdleResume.Thread, options.IdleResume);
        Assert.Equal("RoundRobin", options.ConnectionDistribution);
        Assert.Equal(1024, options.MaxQueueLength);
        Assert.Empty(options.Partitions);
        Assert.Null(options.MaxConcurrentRequests);
        Assert.Null(options.MaxQueueWait);
        Assert.Equal("JumpHash", options.KeyPolicy);
        Assert.Equal(PartitionKeyFailure.BadRequest, options.KeyFailure);
        Assert.Empty(options.Keys);
        Assert.True(Validate(options).Succeeded);
    }

    [Fact]
    public void Binding_ReadsEverySetting_CaseInsensitively()
    {
        var options = Bind(new()
        {
            ["PartitionedHosting:PartitionCount"] = "3",
            ["PartitionedHosting:mode"] = "singlethreaded",
            ["PartitionedHosting:ConnectionDistribution"] = "leastconnections",
            ["PartitionedHosting:MaxQueueLength"] = "10",
            ["PartitionedHosting:Partitions:2:Mode"] = "FreeThreaded",
            ["PartitionedHosting:Partitions:2:MaxQueueLength"] = "5",
            ["PartitionedHosting:IdleResume"] = "threadpool",
            ["PartitionedHosting:Partitions:1:IdleResume"] = "Thread",
            ["PartitionedHosting:Partitions:2:Dedicated"] = "True",
        });

        Assert.True(Validate(options).Succeeded);
        Assert.Equal(3, options.PartitionCount);
        Assert.Equal(ExecutionMode.SingleThreaded, options.GetMode(0));
        Assert.Equal(ExecutionMode.FreeThreaded, options.GetMode(2));
        Assert.Equal(10, options.GetMaxQueueLength(0));
        Assert.Equal(5, options.GetMaxQueueLength(2));
        Assert.Equal(IdleResume.ThreadPool, options.GetIdleResume(0));
        Assert.Equal(IdleResume.Thread, options.GetIdleResume(1));
        Assert.True(options.IsDedicated(2));
        Assert.False(options.IsDedicated(0));
    }

    [Fact]
    public void Validation_ReportsEveryProblemAtOnce()
    {
        var options = Bind(new()
        {
            ["PartitionedHosting:PartitionCount"] = "many",
            ["PartitionedHosting:Mode"] = "1",
            ["PartitionedHosting:MaxQueueLength"] = "0",
            ["PartitionedHosting:Partitions:x:Mode"] = "FreeThreaded",
            ["PartitionedHosting:Partitions:0:Speed"] = "11",
            ["PartitionedHosting:Partitions:0:MaxQueueLength"] = "-3",
            ["PartitionedHosting:IdleResume"] = "Spin",
            ["PartitionedHosting:Partitions:1:IdleResume"] = "Never",
            ["PartitionedHosting:Partitions:1:Dedicated"] = "yes",
        });

        var result = Validate(options);

        Assert.Equal(
            [
                "PartitionedHosting:IdleResume = 'Spin' is not valid; allowed values: Thread, ThreadPool.",
                "PartitionedHosting:MaxQueueLength = '0' is not valid; allowed values: an integer of 1 or more.",
                "PartitionedHosting:Mode = '1' is not valid; allowed values: FreeThreaded, SingleThreaded.",
                "PartitionedHosting:PartitionCount = 'many' is not valid; allowed values: an integer from 1 to 1024.",
                "PartitionedHosting:Partitions:0:MaxQueueLength = '-3' is not valid; allowed values: an integer of 1 or more.",
                "PartitionedHosting:Partitions:0:Speed is not a known partition setting; known settings are Mode, IdleResume, MaxQueueLength, MaxConcurrentRequests, Dedicated.",
                "PartitionedHosting:Partitions:1:Dedicated = 'yes' is not valid; allowed values: true, false.",
                "PartitionedHosting:Partitions:1:IdleResume = 'Never' is not valid; allowed values: Thread, ThreadPool.",
                "PartitionedHosting:Partitions:x: 'x' is not a partition index; use an integer from 0 to PartitionCount - 1.",
            ],
            result.Failures!.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void DuplicatePolicyNames_FailNamingBothTypes()
    {
        var error = Assert.Throws<InvalidOperationException>(() => new ConnectionDistributionPolicyRegistry([new RoundRobinPolicy(), new RoundRobinPolicy()]));

        Assert.Contains("'RoundRobin'", error.Message, StringComparison.Ordinal);
    }
}
