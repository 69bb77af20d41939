using System.Net;
using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.DependencyInjection;
using PartitionedHosting;

/// <summary>
/// The connection distribution policies: what every new connection pays to be assigned a partition. The policies are
/// the built-in ones, resolved as the application resolves them after <c>AddPartitionedHostingCore()</c>.
/// </summary>
[MemoryDiagnoser]
public class DistributionBenchmarks
{
    private IConnectionDistributionPolicy _roundRobin = null!;
    private IConnectionDistributionPolicy _powerOfTwoChoices = null!;
    private IConnectionDistributionPolicy _leastConnections = null!;
    private IConnectionDistributionPolicy _clientAddressHash = null!;
    private ServiceProvider _services = null!;
    private ConnectionDistributionContext _context;

    /// <summary>The number of partitions to choose from.</summary>
    [Params(2, 16)]
    public int Partitions { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _services = new ServiceCollection().AddPartitionedHostingCore().BuildServiceProvider();
        var policies = _services.GetServices<IConnectionDistributionPolicy>().ToDictionary(p => p.Name, StringComparer.OrdinalIgnoreCase);
        _roundRobin = policies[ConnectionDistributionPolicies.RoundRobin];
        _powerOfTwoChoices = policies[ConnectionDistributionPolicies.PowerOfTwoChoices];
        _leastConnections = policies[ConnectionDistributionPolicies.LeastConnections];
        _clientAddressHash = policies[ConnectionDistributionPolicies.ClientAddressHash];

        // Uneven loads, so that the load-aware policies have something to compare.
        var partitions = Enumerable.Range(0, Partitions).Select(i => new LoadedPartition(i, Partitions, activeConnections: (i * 7) % 5)).ToArray();
        _context = new ConnectionDistributionContext(new IPEndPoint(IPAddress.Parse("192.0.2.17"), 50_123), partitions);
    }

    [GlobalCleanup]
    public void Cleanup() => _services.Dispose();

    [Benchmark(Baseline = true)]
    public int RoundRobin() => _roundRobin.SelectPartition(_context);

    [Benchmark]
    public int PowerOfTwoChoices() => _powerOfTwoChoices.SelectPartition(_context);

    [Benchmark]
    public int LeastConnections() => _leastConnections.SelectPartition(_context);

    [Benchmark]
    public int ClientAddressHash() => _clientAddressHash.SelectPartition(_context);

    /// <summary>A partition as a policy sees it: an id and a load.</summary>
    private sealed class LoadedPartition(int id, int count, int activeConnections) : IPartitionContext
    {
        public int Id => id;

        public int PartitionCount => count;

        public ExecutionMode Mode => ExecutionMode.SingleThreaded;

        public int Generation => 1;

        public PartitionState State => PartitionState.Running;

        public IServiceProvider Services => throw new NotSupportedException();

        public int ActiveConnections => activeConnections;

        public int ActiveRequests => 0;

        public int QueueLength => 0;
    }
}
