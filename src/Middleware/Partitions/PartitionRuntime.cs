using System.Net;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using PartitionedHosting.Affinity;
using PartitionedHosting.Configuration;
using PartitionedHosting.DependencyInjection;
using PartitionedHosting.Diagnostics;
using PartitionedHosting.Distribution;

namespace PartitionedHosting.Partitions;

/// <summary>
/// Owns the partitions of the process: builds them from the options at start, assigns connections and requests to
/// them, and drains and disposes them at stop.
/// </summary>
/// <remarks>
/// Start and stop are idempotent, because both the partitioned server and the host's lifecycle (which is all there is
/// under <c>TestServer</c>) call them: whichever comes first does the work, the other waits for the same result.
/// </remarks>
internal sealed class PartitionRuntime : IAsyncDisposable
{
    private static readonly TimeSpan s_threadStopTimeout = TimeSpan.FromSeconds(5);

    private readonly IOptions<PartitionedHostingOptions> _options;
    private readonly PartitionServiceRegistry _registry;
    private readonly ConnectionDistributionPolicyRegistry _policies;
    private readonly IServiceProvider _services;
    private readonly ILogger _logger;
    private readonly Lock _lifecycleLock = new();
    private Partition[] _partitions = [];
    private readonly PartitionKeyPolicyRegistry _keyPolicies;
    private IConnectionDistributionPolicy _distribution = null!;
    private IPartitionKeyPolicy _keyPolicy = null!;
    private Task? _started;
    private Task? _stopped;
    private volatile bool _running;

    public PartitionRuntime(
        IOptions<PartitionedHostingOptions> options,
        PartitionServiceRegistry registry,
        ConnectionDistributionPolicyRegistry policies,
        PartitionKeyPolicyRegistry keyPolicies,
        TimeProvider timeProvider,
        IServiceProvider services,
        ILogger<PartitionRuntime> logger)
    {
        _options = options;
        _registry = registry;
        _policies = policies;
        _keyPolicies = keyPolicies;
        TimeProvider = timeProvider;
        _services = services;
        _logger = logger;
    }

    public TimeProvider TimeProvider { get; }

    /// <summary>What a keyed request whose key is missing or unreadable gets.</summary>
    public PartitionKeyFailure KeyFailure { get; private set; }

    /// <summary>The partitions, by id; empty before start.</summary>
    public IReadOnlyList<Partition> Partitions => _partitions;

    /// <summary>Whether partitions accept requests: started, and not yet disposing.</summary>
    public bool IsRunning => _running;

    public Task StartAsync()
    {
        lock (_lifecycleLock)
        {
            return _started ??= Task.Run(Start);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        lock (_lifecycleLock)
        {
            return _stopped ??= _started is null ? Task.CompletedTask : StopCoreAsync(cancellationToken);
        }
    }

    public async ValueTask DisposeAsync()
    {
        using var cancelled = new CancellationTokenSource(TimeSpan.Zero);
        await StopAsync(cancelled.Token).ConfigureAwait(false);
    }

    /// <summary>Picks the partition of a new connection with the configured distribution policy.</summary>
    public Partition SelectPartition(EndPoint? remoteEndPoint)
    {
        var partitions = _partitions;
        var index = _distribution.SelectPartition(new ConnectionDistributionContext(remoteEndPoint, partitions));
        if ((uint)index >= (uint)partitions.Length)
        {
            throw new InvalidOperationException(
                $"Connection distribution policy '{_distribution.Name}' returned partition {index}; valid partitions are 0 to {partitions.Length - 1}.");
        }

        return partitions[index];
    }

    /// <summary>The partition that owns <paramref name="key"/>, by the configured key policy.</summary>
    public Partition GetOwner(ReadOnlySpan<char> key)
    {
        var partitions = _partitions;
        var index = _keyPolicy.GetPartition(key, partitions.Length);
        if ((uint)index >= (uint)partitions.Length)
        {
            throw new InvalidOperationException(
                $"Partition key policy '{_keyPolicy.Name}' returned partition {index}; valid partitions are 0 to {partitions.Length - 1}.");
        }

        return partitions[index];
    }

    /// <summary>
    /// Picks the partition of a request that came without one (under <c>TestServer</c>, or a server other than the
    /// partitioned one): the request is treated as a connection of its own.
    /// </summary>
    public Partition SelectPartition(HttpContext context)
    {
        var connection = context.Connection;
        var remote = connection.RemoteIpAddress is { } address ? new IPEndPoint(address, connection.RemotePort) : null;
        return SelectPartition(remote);
    }

    public void OnUnhandledException(Partition partition, Exception exception) =>
        Log.UnhandledException(_logger, partition.Id, exception);

    private void Start()
    {
        // Throws OptionsValidationException, naming every invalid key, before anything is created.
        var options = _options.Value;
        _distribution = _policies.Get(options.ConnectionDistribution);
        _keyPolicy = _keyPolicies.Get(options.KeyPolicy);
        KeyFailure = options.KeyFailure;

        var localServices = _registry.BuildLocalServiceTable();
        var partitions = new Partition[options.PartitionCount];
        for (var id = 0; id < partitions.Length; id++)
        {
            var partition = new Partition(this, id, partitions.Length, options, OnUnhandledException);
            partition.Container = new PartitionContainer(partition, _registry.Descriptors, localServices, _services);
            partitions[id] = partition;
        }

        foreach (var partition in partitions)
        {
            partition.Thread?.Start();
        }

        _partitions = partitions;
        _running = true;
        var singleThreaded = partitions.Count(p => p.Mode == ExecutionMode.SingleThreaded);
        Log.PartitionsStarted(_logger, partitions.Length, singleThreaded, partitions.Length - singleThreaded, _distribution.Name);
    }

    private async Task StopCoreAsync(CancellationToken cancellationToken)
    {
        try
        {
            await _started!.ConfigureAwait(false);
        }
        catch
        {
            return;
        }

        var partitions = _partitions;
        Log.Draining(_logger, partitions.Sum(p => p.ActiveRequests));
        var idle = Task.WhenAll(partitions.Select(p => p.WhenIdleAsync()));
        try
        {
            await idle.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            foreach (var partition in partitions.Where(p => p.ActiveRequests > 0))
            {
                Log.DrainTimedOut(_logger, partition.Id, partition.ActiveRequests);
            }
        }

        _running = false;
        foreach (var partition in partitions)
        {
            // Partition-local services are disposed where they live: on the partition's thread.
            await partition.InvokeAsync(static c => ((PartitionContainer)c).DisposeAsync().AsTask(), partition.Container).ConfigureAwait(false);
            if (partition.Thread is { } thread && !thread.Stop(s_threadStopTimeout))
            {
                Log.ThreadDidNotStop(_logger, partition.Id, s_threadStopTimeout);
            }
        }

        Log.PartitionsStopped(_logger, partitions.Length);
    }
}
