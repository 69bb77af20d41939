using System.Collections.Concurrent;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using PartitionedHosting.Affinity;
using PartitionedHosting.Configuration;
using PartitionedHosting.DependencyInjection;
using PartitionedHosting.Diagnostics;
using PartitionedHosting.Distribution;
using PartitionedHosting.Execution;

namespace PartitionedHosting.Partitions;

/// <summary>
/// Owns the partitions of the process: builds them from the options at start, assigns connections and requests to
/// them, watches them (stalls, lifetimes), replaces their instances (recycling, faults), and drains and disposes them
/// at stop.
/// </summary>
/// <remarks>
/// Start and stop are idempotent, because both the partitioned server and the host's lifecycle (which is all there is
/// under <c>TestServer</c>) call them: whichever comes first does the work, the other waits for the same result.
/// </remarks>
internal sealed partial class PartitionRuntime : IPartitionManager, IAsyncDisposable
{
    // Disposal steps of a partition have this long when no shutdown deadline bounds them (a recycle's old instance).
    private static readonly TimeSpan s_disposeTimeout = TimeSpan.FromSeconds(5);

    // How long disposal may go on once the host's shutdown deadline has passed: long enough for partitions whose thread
    // is free to dispose their services, short enough that a blocked one cannot hold the process.
    private static readonly TimeSpan s_disposeGrace = TimeSpan.FromMilliseconds(250);

    // How long the requests of an instance abandoned after its drain timeout have, once aborted, to end.
    private static readonly TimeSpan s_abortGrace = TimeSpan.FromSeconds(2);

    private readonly IOptions<PartitionedHostingOptions> _optionsAccessor;
    private readonly PartitionServiceRegistry _registry;
    private readonly ConnectionDistributionPolicyRegistry _policies;
    private readonly PartitionKeyPolicyRegistry _keyPolicies;
    private readonly IServiceProvider _services;
    private readonly ILogger _logger;
    private readonly Lock _lifecycleLock = new();
    private readonly CancellationTokenSource _stopping = new();

    // Cancelled a short grace after the host's shutdown deadline: every disposal of a partition ends by then.
    private readonly CancellationTokenSource _disposalDeadline = new();
    private readonly ConcurrentDictionary<PartitionInstance, Task> _retiring = new();

    // Every instance created and not yet disposed: current, draining from a recycle, or still starting.
    private readonly ConcurrentDictionary<PartitionInstance, byte> _instances = new();
    private PartitionedHostingOptions _options = null!;
    private System.Collections.Frozen.FrozenDictionary<Type, bool> _localServices = null!;
    // Replaced whole by a resize: readers take the array once.
    private volatile Partition[] _partitions = [];

    // The partitions that take connections and own keys: all but the dedicated ones (the same array when there are none).
    private volatile Partition[] _general = [];
    private IConnectionDistributionPolicy _distribution = null!;
    private IPartitionKeyPolicy _keyPolicy = null!;
    private SemaphoreSlim _recycleSlots = null!;
    private PartitionWatchdog? _watchdog;
    private Task? _started;
    private Task? _stopped;
    private volatile bool _running;
    private volatile bool _stopRequested;
    private int _spread;

    public PartitionRuntime(
        IOptions<PartitionedHostingOptions> options,
        PartitionServiceRegistry registry,
        ConnectionDistributionPolicyRegistry policies,
        PartitionKeyPolicyRegistry keyPolicies,
        PartitionedHostingInstruments metrics,
        TimeProvider timeProvider,
        IRandomFactory random,
        IServiceProvider services,
        ILogger<PartitionRuntime> logger)
    {
        _optionsAccessor = options;
        _registry = registry;
        _policies = policies;
        _keyPolicies = keyPolicies;
        Metrics = metrics;
        TimeProvider = timeProvider;
        Random = random.Create();
        _services = services;
        _logger = logger;
    }

    public TimeProvider TimeProvider { get; }

    /// <summary>
    /// Whether the server runs no <c>OnCompleted</c> callbacks for a request whose pipeline failed (TestServer), so
    /// that such a request must be ended by its failure; known once the runtime has started.
    /// </summary>
    public bool ServerSkipsOnCompletedOnFailure { get; private set; }

    /// <summary>Whether <paramref name="server"/> is the test host's (by name: the library does not reference it).</summary>
    internal static bool IsTestServer(IServer? server) => server?.GetType().FullName == "Microsoft.AspNetCore.TestHost.TestServer";

    public PartitionedHostingInstruments Metrics { get; }

    /// <summary>The randomness of recycle jitter.</summary>
    public Random Random { get; }

    /// <summary>The escape detector, when <c>DetectEscapes</c> turned it on; <see langword="null"/> otherwise.</summary>
    public IPartitionEscapeSink? Escapes { get; private set; }

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
            return _started ??= Task.Run(StartCoreAsync);
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

    /// <summary>
    /// Begins the log scope of code running in <paramref name="instance"/> (scopes are shared by every logger), unless
    /// logging is off, as ASP.NET Core's own request scope does: a scope costs an execution context per request.
    /// </summary>
    public IDisposable? BeginLogScope(PartitionInstance instance) => _logger.IsEnabled(LogLevel.Critical) ? _logger.BeginScope(instance.LogScope) : null;

    public IReadOnlyList<PartitionSnapshot> GetSnapshots() => [.. _partitions.Select(p => p.Snapshot())];

    /// <summary>
    /// Endpoints pinned to a partition (<see cref="RunOnPartitionAttribute"/>) must name one that exists, and
    /// cannot be keyed as well: checked when the application's pipeline is built (its endpoints are known then), so
    /// that a wrong index stops the host at startup instead of failing requests.
    /// </summary>
    public void ValidatePinnedEndpoints()
    {
        if (_services.GetService<Microsoft.AspNetCore.Routing.EndpointDataSource>() is not { } endpoints)
        {
            return;
        }

        var options = _optionsAccessor.Value;
        var keys = _services.GetService<PartitionKeyCatalog>();
        var errors = new List<string>();
        foreach (var endpoint in endpoints.Endpoints)
        {
            if (endpoint.Metadata.GetMetadata<RunOnPartitionAttribute>() is not { } pinned)
            {
                continue;
            }

            PinPartition(pinned.Partition);
            if (pinned.Partition < 0 || pinned.Partition >= options.PartitionCount)
            {
                errors.Add($"Endpoint '{endpoint.DisplayName}' runs on partition {pinned.Partition} (RunOnPartition), which does not exist; allowed: 0 to {options.PartitionCount - 1} ({PartitionedHostingDefaults.SectionName}:PartitionCount = {options.PartitionCount}).");
            }

            if (keys?.GetKey(endpoint) is { } key)
            {
                errors.Add($"Endpoint '{endpoint.DisplayName}' runs on partition {pinned.Partition} (RunOnPartition) and is keyed ({key.Source} '{key.Name}') as well; allowed: one of the two.");
            }
        }

        if (errors.Count > 0)
        {
            throw new InvalidOperationException(string.Join(Environment.NewLine, errors));
        }
    }

    private async Task StartCoreAsync()
    {
        // Throws OptionsValidationException, naming every invalid key, before anything is created.
        var options = _options = _optionsAccessor.Value;
        _distribution = _policies.Get(options.ConnectionDistribution);
        _keyPolicy = _keyPolicies.Get(options.KeyPolicy);
        KeyFailure = options.KeyFailure;
        ServerSkipsOnCompletedOnFailure = IsTestServer(_services.GetService<IServer>());
        var environment = _services.GetService<Microsoft.Extensions.Hosting.IHostEnvironment>();
        if (options.DetectEscapes ?? environment?.EnvironmentName == Microsoft.Extensions.Hosting.Environments.Development)
        {
            Escapes = new PartitionEscapeDetector(_services.GetRequiredService<ILogger<PartitionEscapeDetector>>(), environment?.ApplicationName);
        }

        _recycleSlots = new SemaphoreSlim(options.Recycling.MaxConcurrent);
        _localServices = _registry.BuildLocalServiceTable();

        var partitions = new Partition[options.PartitionCount];
        for (var id = 0; id < partitions.Length; id++)
        {
            partitions[id] = new Partition(this, id, options.GetMode(id));
            partitions[id].Current = CreateInstance(partitions[id], generation: 1, options);
        }

        _partitions = partitions;
        var general = _general = GeneralPartitions(partitions, options);
        var layout = Layout(general);
        _slots.Initialize(slot => layout[slot]);
        BuildCluster(options);
        Metrics.Attach(() => _partitions, PartitionedHostingDefaults.MaxPartitionCount);
        _running = true;

        await Task.WhenAll(partitions.Select(p => RunStartedHooksAsync(p.Current))).ConfigureAwait(false);

        _watchdog = new PartitionWatchdog(this, options, _logger);
        _watchdog.Start();

        var singleThreaded = partitions.Count(p => p.Mode == ExecutionMode.SingleThreaded);
        Log.PartitionsStarted(_logger, partitions.Length, singleThreaded, partitions.Length - singleThreaded, _distribution.Name);
        WatchPartitionCount();
    }

    private PartitionInstance CreateInstance(Partition partition, int generation, PartitionedHostingOptions? options = null)
    {
        var instance = new PartitionInstance(partition, generation, options ?? _options, Random);
        instance.Container = new PartitionContainer(instance, _registry.Descriptors, _localServices, _services);
        _instances[instance] = 0;
        if (instance.Thread is { } thread)
        {
            var id = partition.Id;
            thread.OnTurnCompleted = duration =>
            {
                partition.RecordTurn(duration);
                if (Metrics.TurnDurationEnabled)
                {
                    Metrics.TurnCompleted(id, duration);
                }
            };
            thread.Start();
        }

        return instance;
    }

    private async Task RunStartedHooksAsync(PartitionInstance instance)
    {
        foreach (var hook in instance.Services.GetServices<IPartitionLifecycleHook>())
        {
            try
            {
                await instance.InvokeAsync(h => ((IPartitionLifecycleHook)h).OnStartedAsync(instance, _stopping.Token), hook).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
            {
                // The host stopped while the instance started: not a fault of the partition.
                return;
            }
            catch (Exception ex)
            {
                Log.LifecycleHookFailed(_logger, instance.Id, "started", ex);
                instance.StartFailed = true;
                OnFault(instance);
            }
        }
    }

    /// <summary>
    /// Stops within the host's shutdown deadline (<paramref name="cancellationToken"/>): no recycle starts any more and
    /// those under way end; every instance drains (current ones, and those still draining from a recycle) until the
    /// deadline; then requests get 503 and every instance is disposed, all at once, with a short grace past the
    /// deadline for the disposal itself.
    /// </summary>
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

        // No recycle starts any more; waits of recycles and started hooks end, and so do the drains of retiring
        // instances: the drain below covers them.
        _stopRequested = true;
        _reloadRegistration?.Dispose();
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_watchdog is not null)
        {
            await _watchdog.DisposeAsync().ConfigureAwait(false);
        }

        var partitions = _partitions;
        foreach (var partition in partitions)
        {
            partition.ScheduleCrashLoopRetry(null);
        }

        try
        {
            // A resize or a move under way ends first (its waits end with the stop): it may add or remove partitions.
            await _mapGate.WaitAsync(cancellationToken).ConfigureAwait(false);
            partitions = _partitions;

            // Taking every partition's recycle gate waits for the recycles under way and keeps others from starting.
            await Task.WhenAll(partitions.Select(p => p.RecycleGate.WaitAsync(cancellationToken))).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        var instances = _instances.Keys.ToList();
        Log.Draining(_logger, instances.Sum(i => i.ActiveRequests));
        try
        {
            await Task.WhenAll(instances.Select(i => i.WhenIdleAsync())).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            foreach (var instance in instances.Where(i => i.ActiveRequests > 0))
            {
                Log.DrainTimedOut(_logger, instance.Id, instance.ActiveRequests);
            }
        }

        // Past the deadline, disposals have a short grace; until then, each its own timeout.
        using var deadline = cancellationToken.UnsafeRegister(static r => ((PartitionRuntime)r!)._disposalDeadline.CancelAfter(s_disposeGrace), this);

        _running = false;
        await Task.WhenAll(_retiring.Values).ConfigureAwait(false);
        await Task.WhenAll(_removing.Values).ConfigureAwait(false);
        await Task.WhenAll(_instances.Keys.Select(DisposeInstanceAsync)).ConfigureAwait(false);

        Log.PartitionsStopped(_logger, partitions.Length);
    }
}
