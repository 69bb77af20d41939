using System.Reflection;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using PartitionedHosting.Affinity;
using PartitionedHosting.Configuration;
using PartitionedHosting.Distribution;
using PartitionedHosting.Tests.Infrastructure;

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
        Assert.Equal(1024, options.Admission.MaxQueueLength);
        Assert.Null(options.Admission.MaxConcurrentRequests);
        Assert.Null(options.Admission.MaxQueueWait);
        Assert.Equal(TimeSpan.FromSeconds(2), options.Watchdog.StallThreshold);
        Assert.Null(options.Watchdog.ReplaceStalledAfter);
        Assert.Equal(3, options.Watchdog.CrashLoopMaxFailures);
        Assert.Equal(TimeSpan.FromMinutes(1), options.Watchdog.CrashLoopWindow);
        Assert.Null(options.Recycling.AfterRequests);
        Assert.Null(options.Recycling.After);
        Assert.Equal(0.1, options.Recycling.Jitter);
        Assert.Equal(1, options.Recycling.MaxConcurrent);
        Assert.Equal(TimeSpan.FromSeconds(30), options.Recycling.DrainTimeout);
        Assert.Empty(options.Partitions);
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
            ["PartitionedHosting:Admission:MaxQueueLength"] = "10",
            ["PartitionedHosting:admission:maxqueuewait"] = "00:00:01.5",
            ["PartitionedHosting:Watchdog:StallThreshold"] = "00:00:03",
            ["PartitionedHosting:Watchdog:CrashLoopMaxFailures"] = "5",
            ["PartitionedHosting:Recycling:AfterRequests"] = "1000",
            ["PartitionedHosting:Recycling:Jitter"] = "0.25",
            ["PartitionedHosting:Recycling:DrainTimeout"] = "00:01:00",
            ["PartitionedHosting:Partitions:2:Mode"] = "FreeThreaded",
            ["PartitionedHosting:Partitions:2:MaxQueueLength"] = "5",
            ["PartitionedHosting:IdleResume"] = "threadpool",
            ["PartitionedHosting:Partitions:1:IdleResume"] = "Thread",
            ["PartitionedHosting:Partitions:2:Dedicated"] = "True",
            ["PartitionedHosting:Keys:0:Pattern"] = "/carts/{id}",
            ["PartitionedHosting:Keys:0:Name"] = "id",
            ["PartitionedHosting:Keys:1:Pattern"] = "/users",
            ["PartitionedHosting:Keys:1:Source"] = "Header",
            ["PartitionedHosting:Keys:1:Name"] = "X-User",
            ["PartitionedHosting:Cluster:Nodes:0"] = "http://a",
            ["PartitionedHosting:Cluster:Nodes:1"] = "http://b",
            ["PartitionedHosting:Cluster:Self"] = "1",
        });

        Assert.True(Validate(options).Succeeded);
        Assert.Equal(3, options.PartitionCount);
        Assert.Equal(ExecutionMode.SingleThreaded, options.GetMode(0));
        Assert.Equal(ExecutionMode.FreeThreaded, options.GetMode(2));
        Assert.Equal(10, options.GetMaxQueueLength(0));
        Assert.Equal(5, options.GetMaxQueueLength(2));
        Assert.Equal(TimeSpan.FromSeconds(1.5), options.Admission.MaxQueueWait);
        Assert.Equal(TimeSpan.FromSeconds(3), options.Watchdog.StallThreshold);
        Assert.Equal(5, options.Watchdog.CrashLoopMaxFailures);
        Assert.Equal(1000, options.Recycling.AfterRequests);
        Assert.Equal(0.25, options.Recycling.Jitter);
        Assert.Equal(TimeSpan.FromMinutes(1), options.Recycling.DrainTimeout);
        Assert.Equal(IdleResume.ThreadPool, options.GetIdleResume(0));
        Assert.Equal(IdleResume.Thread, options.GetIdleResume(1));
        Assert.True(options.IsDedicated(2));
        Assert.False(options.IsDedicated(0));
        Assert.Equal([("/carts/{id}", PartitionKeySource.Route, "id"), ("/users", PartitionKeySource.Header, "X-User")], options.Keys.Select(k => (k.Pattern, k.Source, k.Name)));
        Assert.Equal(["http://a", "http://b"], options.Cluster.Nodes);
        Assert.Equal("1", options.Cluster.Self);
    }

    [Fact]
    public void EmptyValues_LeaveTheirSettingsAtTheDefaults()
    {
        // An environment variable set to nothing, a null in JSON: unset, not invalid.
        var options = Bind(new()
        {
            ["PartitionedHosting:PartitionCount"] = "",
            ["PartitionedHosting:Mode"] = "",
            ["PartitionedHosting:Admission:MaxQueueLength"] = "",
            ["PartitionedHosting:Recycling:After"] = "",
            ["PartitionedHosting:Partitions:0"] = "",
        });

        Assert.True(Validate(options).Succeeded);
        Assert.Equal(Environment.ProcessorCount, options.PartitionCount);
        Assert.Equal(ExecutionMode.FreeThreaded, options.Mode);
        Assert.Equal(1024, options.Admission.MaxQueueLength);
        Assert.Null(options.Recycling.After);
        Assert.Empty(options.Partitions);
    }

    [Fact]
    public void Validation_ReportsEveryProblemAtOnce()
    {
        var options = Bind(new()
        {
            ["PartitionedHosting:PartitionCount"] = "many",
            ["PartitionedHosting:Mode"] = "1",
            ["PartitionedHosting:Admission:MaxQueueLength"] = "0",
            ["PartitionedHosting:Admission:MaxQueueWait"] = "soon",
            ["PartitionedHosting:Admission:QueueLength"] = "3",
            ["PartitionedHosting:Recycling:Jitter"] = "0.7",
            ["PartitionedHosting:Watchdog:StallThreshold"] = "00:00:00",
            ["PartitionedHosting:MaxQueueLength"] = "10",
            ["PartitionedHosting:Partitions:x:Mode"] = "FreeThreaded",
            ["PartitionedHosting:Partitions:0:Speed"] = "11",
            ["PartitionedHosting:Partitions:0:MaxQueueLength"] = "-3",
            ["PartitionedHosting:IdleResume"] = "Spin",
            ["PartitionedHosting:Partitions:1:IdleResume"] = "Never",
            ["PartitionedHosting:Partitions:1:Dedicated"] = "yes",
            ["PartitionedHosting:Keys:0:Source"] = "Cookie",
            ["PartitionedHosting:Keys:0:Pattern"] = "/a/{id}",
            ["PartitionedHosting:Keys:0:Name"] = "id",
            ["PartitionedHosting:Cluster:Seeds:0"] = "x",
        });

        var result = Validate(options);

        Assert.Equal(
            [
                "PartitionedHosting:Admission:MaxQueueLength = '0' is not valid; allowed values: an integer of 1 or more.",
                "PartitionedHosting:Admission:MaxQueueWait = 'soon' is not valid; allowed values: a positive duration such as 00:00:02.5.",
                "PartitionedHosting:Admission:QueueLength is not a known setting; known settings are MaxQueueLength, MaxConcurrentRequests, MaxQueueWait.",
                "PartitionedHosting:Cluster:Seeds is not a known setting; known settings are Nodes, Self.",
                "PartitionedHosting:IdleResume = 'Spin' is not valid; allowed values: Thread, ThreadPool.",
                "PartitionedHosting:Keys:0:Source = 'Cookie' is not valid; allowed values: Route, Header, Query, Claim.",
                "PartitionedHosting:MaxQueueLength is not a known setting; known settings are " + KnownSettings + ".",
                "PartitionedHosting:Mode = '1' is not valid; allowed values: FreeThreaded, SingleThreaded.",
                "PartitionedHosting:PartitionCount = 'many' is not valid; allowed values: an integer from 1 to 1024.",
                "PartitionedHosting:Partitions:0:MaxQueueLength = '-3' is not valid; allowed values: an integer of 1 or more.",
                "PartitionedHosting:Partitions:0:Speed is not a known setting; known settings are Mode, MaxQueueLength, IdleResume, MaxConcurrentRequests, Dedicated.",
                "PartitionedHosting:Partitions:1:Dedicated = 'yes' is not valid; allowed values: true, false.",
                "PartitionedHosting:Partitions:1:IdleResume = 'Never' is not valid; allowed values: Thread, ThreadPool.",
                "PartitionedHosting:Partitions:x: 'x' is not an index; allowed values: an integer of 0 or more.",
                "PartitionedHosting:Recycling:Jitter = '0.7' is not valid; allowed values: a number from 0 to 0.5.",
                "PartitionedHosting:Watchdog:StallThreshold = '00:00:00' is not valid; allowed values: a positive duration such as 00:00:02.5.",
            ],
            result.Failures!.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void ValuesWhereSectionsBelong_AndEmptyListEntries_AreReported_NotThrownByTheBinder()
    {
        var options = Bind(new()
        {
            ["PartitionedHosting:Admission"] = "512",
            ["PartitionedHosting:Keys"] = "/carts/{id}",
            ["PartitionedHosting:Partitions:1"] = "FreeThreaded",
            ["PartitionedHosting:Cluster:Nodes:0"] = "http://a",
            ["PartitionedHosting:Cluster:Nodes:1"] = "",
            ["PartitionedHosting:Cluster:Nodes:2"] = "http://c",
            ["PartitionedHosting:Cluster:Self"] = "1",
            ["PartitionedHosting:Recycling:AfterRequests"] = "1000",
        });

        var result = Validate(options);

        Assert.Equal(
            [
                "PartitionedHosting:Admission = '512' is not valid; allowed values: a section (its settings), not a single value.",
                "PartitionedHosting:Cluster:Nodes:1 is empty; allowed values: a string.",
                "PartitionedHosting:Keys = '/carts/{id}' is not valid; allowed values: a section (a list, one entry per index), not a single value.",
                "PartitionedHosting:Partitions:1 = 'FreeThreaded' is not valid; allowed values: a section (its settings), not a single value.",
            ],
            result.Failures!.Where(f => !f.StartsWith("PartitionedHosting:Cluster:Self", StringComparison.Ordinal)).Order(StringComparer.Ordinal));

        // What was right is bound all the same, so that validation sees it.
        Assert.Equal(1000, options.Recycling.AfterRequests);
    }

    [Fact]
    public void AKeyTheCheckRejected_IsReportedOnce()
    {
        var result = Validate(Bind(new()
        {
            ["PartitionedHosting:Keys:0:Pattern"] = "/carts/{id}",
            ["PartitionedHosting:Keys:0:Name:First"] = "id",
        }));

        // Not also "Keys:0:Name is missing", which the default it kept would otherwise be.
        Assert.Equal(["PartitionedHosting:Keys:0:Name is a section; allowed values: a string."], result.Failures!);
    }

    [Fact]
    public void ACommaSeparatedListInOneValue_IsReported()
    {
        var result = Validate(Bind(new() { ["PartitionedHosting:Cluster:Nodes"] = "http://a,http://b" }));

        Assert.Contains(
            "PartitionedHosting:Cluster:Nodes = 'http://a,http://b' is not valid; allowed values: a section (a list, one entry per index), not a single value.",
            result.Failures!);
    }

    [Fact]
    public void Validation_ChecksValuesSetInCode_NamingTheirKeys()
    {
        var options = new PartitionedHostingOptions { PartitionCount = 2, Mode = (ExecutionMode)7 };
        options.Admission.MaxConcurrentRequests = 0;
        options.Recycling.MaxConcurrent = -1;
        options.Watchdog.ReplaceStalledAfter = TimeSpan.FromSeconds(-1);
        options.Partitions[1] = new PartitionOptions { MaxConcurrentRequests = 0 };
        options.Partitions[4] = new PartitionOptions();
        options.Keys.Add(new PartitionKeyOptions { Pattern = "/a/{id}", Name = "id", Source = (PartitionKeySource)9 });

        var result = Validate(options);

        Assert.Equal(
            [
                "PartitionedHosting:Admission:MaxConcurrentRequests = '0' is not valid; allowed values: an integer of 1 or more.",
                "PartitionedHosting:Keys:0:Source = '9' is not valid; allowed values: Route, Header, Query, Claim.",
                "PartitionedHosting:Mode = '7' is not valid; allowed values: FreeThreaded, SingleThreaded.",
                "PartitionedHosting:Partitions:1:MaxConcurrentRequests = '0' is not valid; allowed values: an integer of 1 or more.",
                "PartitionedHosting:Partitions:4 names partition 4, which does not exist; allowed indexes: 0 to 1 (PartitionCount = 2).",
                "PartitionedHosting:Recycling:MaxConcurrent = '-1' is not valid; allowed values: an integer of 1 or more.",
                "PartitionedHosting:Watchdog:ReplaceStalledAfter = '-00:00:01' is not valid; allowed values: a positive duration such as 00:00:02.5.",
            ],
            result.Failures!.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void EverySetting_IsReachableFromConfiguration_AndDocumentedInTheReadme()
    {
        // Adding an option is one property: the check, the binder and validation find it. The README's reference
        // must name it too.
        var readme = File.ReadAllText(Path.Combine(Repository.Root, "README.md"));
        foreach (var key in SettingKeys(typeof(PartitionedHostingOptions), prefix: ""))
        {
            Assert.True(readme.Contains($"`{key}`", StringComparison.Ordinal), $"README.md does not document {key}.");
        }
    }

    // The keys of a type's settings as the README writes them: Admission:MaxQueueLength, Keys:{n}:Name, Partitions:{index}:Mode.
    private static IEnumerable<string> SettingKeys(Type type, string prefix)
    {
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            var key = prefix + property.Name;
            var propertyType = property.PropertyType;
            if (propertyType.IsGenericType && propertyType.GetGenericTypeDefinition() == typeof(IDictionary<,>))
            {
                foreach (var nested in SettingKeys(propertyType.GetGenericArguments()[1], key + ":{index}:"))
                {
                    yield return nested;
                }
            }
            else if (propertyType.IsGenericType && propertyType.GetGenericTypeDefinition() == typeof(IList<>))
            {
                var item = propertyType.GetGenericArguments()[0];
                var keys = item == typeof(string) ? [key + ":{n}"] : SettingKeys(item, key + ":{n}:");
                foreach (var nested in keys)
                {
                    yield return nested;
                }
            }
            else if (property.SetMethod is null)
            {
                foreach (var nested in SettingKeys(propertyType, key + ":"))
                {
                    yield return nested;
                }
            }
            else
            {
                yield return key;
            }
        }
    }

    private const string KnownSettings =
        "PartitionCount, Mode, ConnectionDistribution, Transport, IdleResume, KeyPolicy, KeyFailure, Keys, HandoffTimeout, DetectEscapes, " +
        "Admission, Watchdog, Recycling, Partitions, Cluster";

    [Fact]
    public void DuplicatePolicyNames_FailNamingBothTypes()
    {
        var error = Assert.Throws<InvalidOperationException>(() => new ConnectionDistributionPolicyRegistry([new RoundRobinPolicy(), new RoundRobinPolicy()]));

        Assert.Contains("'RoundRobin'", error.Message, StringComparison.Ordinal);
    }
}
