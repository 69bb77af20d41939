using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.ObjectPool;
using Microsoft.Extensions.Options;
using PartitionedHosting.Affinity;
using PartitionedHosting.Configuration;
using PartitionedHosting.DependencyInjection;
using PartitionedHosting.Diagnostics;
using PartitionedHosting.Distribution;
using PartitionedHosting.Execution;
using PartitionedHosting.KeyMap;

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
    private ITimer? _watchdog;
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
        PartitionMetrics metrics,
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

    public PartitionMetrics Metrics { get; }

    /// <summary>The state of the requests in flight, pooled (see <see cref="InFlightRequest"/>).</summary>
    public ObjectPool<InFlightRequest> InFlightRequests { get; } =
        new DefaultObjectPool<InFlightRequest>(new DefaultPooledObjectPolicy<InFlightRequest>(), 1024 * Environment.ProcessorCount);

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
    /// Picks the partition of a new connection with the configured distribution policy, among the partitions that are
    /// not dedicated, avoiding unavailable ones.
    /// </summary>
    /// <remarks>
    /// A policy that throws or returns an index out of range is logged, and the connection goes to the partitions in
    /// turn: a faulty policy must not stop the server from accepting.
    /// </remarks>
    public Partition SelectPartition(EndPoint? remoteEndPoint)
    {
        var partitions = _general;
        int index;
        try
        {
            index = _distribution.SelectPartition(new ConnectionDistributionContext(remoteEndPoint, partitions));
        }
        catch (Exception ex)
        {
            return SelectInTurn(partitions, ex);
        }

        return (uint)index < (uint)partitions.Length
            ? AvailableFrom(partitions[index])
            : SelectInTurn(partitions, new InvalidOperationException(
                $"Connection distribution policy '{_distribution.Name}' returned index {index}; valid indexes are 0 to {partitions.Length - 1}."));
    }

    private Partition SelectInTurn(Partition[] partitions, Exception policyFailure)
    {
        var partition = partitions[(int)((uint)Interlocked.Increment(ref _spread) % (uint)partitions.Length)];
        Log.DistributionPolicyFailed(_logger, _distribution.Name, partition.Id, policyFailure);
        return AvailableFrom(partition);
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

    /// <summary>
    /// <paramref name="partition"/> if it is available, else one of the available others, in turn, so that the traffic
    /// of an unavailable partition spreads over all of them; when none is, the partition itself (its queue then decides).
    /// </summary>
    public Partition AvailableFrom(Partition partition)
    {
        if (partition.IsAvailable)
        {
            return partition;
        }

        var partitions = _general;
        var start = (uint)Interlocked.Increment(ref _spread);
        for (var step = 0; step < partitions.Length; step++)
        {
            var candidate = partitions[(int)((start + (uint)step) % (uint)partitions.Length)];
            if (candidate.IsAvailable)
            {
                return candidate;
            }
        }

        return partition;
    }

    /// <summary>The partition that owns <paramref name="key"/> now, by the key map (the old owner while its slot moves).</summary>
    public Partition GetOwner(ReadOnlySpan<char> key) => _slots.GetOwner(PartitionKeySlots.GetSlot(key));

    /// <summary>
    /// Begins the log scope of code running in <paramref name="instance"/> (scopes are shared by every logger), unless
    /// logging is off, as ASP.NET Core's own request scope does: a scope costs an execution context per request.
    /// </summary>
    public IDisposable? BeginLogScope(PartitionInstance instance) => _logger.IsEnabled(LogLevel.Critical) ? _logger.BeginScope(instance.LogScope) : null;

    public IReadOnlyList<PartitionSnapshot> GetSnapshots() => [.. _partitions.Select(p => p.Snapshot())];

    public Task RecycleAsync(int partitionId, CancellationToken cancellationToken = default)
    {
        var partitions = _partitions;
        ArgumentOutOfRangeException.ThrowIfNegative(partitionId);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(partitionId, partitions.Length);
        if (_stopRequested)
        {
            throw new InvalidOperationException("The partitions are stopping: they are no longer recycled.");
        }

        var partition = partitions[partitionId];
        partition.IsUnhealthy = false;
        partition.ResetFailures();
        return RecycleOnDemandAsync(partition, cancellationToken);
    }

    private async Task RecycleOnDemandAsync(Partition partition, CancellationToken cancellationToken)
    {
        // A stop ends the wait for a slot as well.
        using var stopping = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping.Token);
        await RecycleCoreAsync(partition, partition.Current, RecycleCause.Manual, manual: true, stopping.Token).ConfigureAwait(false);
    }

    /// <summary>
    /// Starts a recycle in the background (a limit was reached, a fault, a deadlock), once per instance, on the thread
    /// pool: not on the thread that noticed (a request, the watchdog, a failing partition), nor in its execution context.
    /// </summary>
    public void RequestRecycle(Partition partition, PartitionInstance instance, RecycleCause cause)
    {
        if (!_stopRequested && instance.TryBeginRecycle())
        {
            ThreadPool.UnsafeQueueUserWorkItem(
                static s => _ = s.Runtime.RecycleCoreAsync(s.Partition, s.Instance, s.Cause, manual: false, s.Runtime._stopping.Token),
                (Runtime: this, Partition: partition, Instance: instance, Cause: cause),
                preferLocal: false);
        }
    }

    /// <summary>An exception escaped work posted to a partition: log it, and replace the partition unless it crash-loops.</summary>
    public void OnUnhandledException(PartitionInstance instance, Exception exception)
    {
        Log.UnhandledException(_logger, instance.Id, exception);
        OnFault(instance);
    }

    private void OnFault(PartitionInstance instance)
    {
        var partition = instance.Owner;
        if (!_running || partition.Current != instance)
        {
            return;
        }

        if (partition.RecordFailure(TimeProvider.GetTimestamp(), _options.CrashLoopWindow, _options.CrashLoopMaxFailures, TimeProvider))
        {
            // Like a restart back-off: try again later, and later still each time it fails again soon after.
            partition.IsUnhealthy = true;
            var retryIn = partition.NextCrashLoopRetry(TimeProvider.GetTimestamp(), _options.CrashLoopWindow, TimeProvider);
            Log.CrashLoop(_logger, partition.Id, _options.CrashLoopMaxFailures, _options.CrashLoopWindow, retryIn);
            partition.ScheduleCrashLoopRetry(TimeProvider.CreateTimer(
                static s =>
                {
                    var (runtime, instance) = ((PartitionRuntime, PartitionInstance))s!;
                    runtime.RetryAfterCrashLoop(instance);
                },
                (this, instance),
                retryIn,
                Timeout.InfiniteTimeSpan));
            return;
        }

        RequestRecycle(partition, instance, RecycleCause.Fault);
    }

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

    private void RetryAfterCrashLoop(PartitionInstance instance)
    {
        var partition = instance.Owner;
        if (_stopRequested || !partition.IsUnhealthy || partition.Current != instance)
        {
            return;
        }

        Log.CrashLoopRetry(_logger, partition.Id);
        partition.IsUnhealthy = false;
        partition.ResetFailures();
        RequestRecycle(partition, instance, RecycleCause.CrashLoopRetry);
    }

    private async Task StartCoreAsync()
    {
        // Throws OptionsValidationException, naming every invalid key, before anything is created.
        var options = _options = _optionsAccessor.Value;
        _distribution = _policies.Get(options.ConnectionDistribution);
        _keyPolicy = _keyPolicies.Get(options.KeyPolicy);
        KeyFailure = options.KeyFailure;
        var environment = _services.GetService<Microsoft.Extensions.Hosting.IHostEnvironment>();
        if (options.DetectEscapes ?? environment?.EnvironmentName == Microsoft.Extensions.Hosting.Environments.Development)
        {
            Escapes = new PartitionEscapeDetector(_services.GetRequiredService<ILogger<PartitionEscapeDetector>>(), environment?.ApplicationName);
        }

        _recycleSlots = new SemaphoreSlim(options.MaxConcurrentRecycles);
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

        var period = TimeSpan.FromTicks(Math.Clamp(options.StallThreshold.Ticks / 4, TimeSpan.FromMilliseconds(10).Ticks, TimeSpan.TicksPerSecond));
        _watchdog = TimeProvider.CreateTimer(static r => ((PartitionRuntime)r!).Watch(), this, period, period);

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
    /// Replaces <paramref name="old"/>, if it is still the partition's current instance, once a recycle slot is free.
    /// One recycle of a partition at a time; a manual caller sees its cancellation and waits its turn.
    /// </summary>
    private async Task RecycleCoreAsync(Partition partition, PartitionInstance old, RecycleCause cause, bool manual, CancellationToken cancellationToken)
    {
        var replaced = false;
        try
        {
            await partition.RecycleGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!manual)
        {
            old.EndRecycleAttempt();
            return;
        }

        try
        {
            if (partition.Current != old || !_running || _stopRequested || partition.IsRemoved)
            {
                return;
            }

            if (await ReplaceAsync(partition, old, cause, cancellationToken).ConfigureAwait(false) is not { } next)
            {
                // The host began to stop meanwhile: whoever asked for this recycle learns it did not happen.
                _stopping.Token.ThrowIfCancellationRequested();
                return;
            }

            replaced = true;

            // The new instance's started hooks may have failed: now that it is current, that counts as its fault.
            if (next.StartFailed)
            {
                OnFault(next);
            }
        }
        catch (OperationCanceledException) when (!manual)
        {
        }
        finally
        {
            if (!replaced)
            {
                old.EndRecycleAttempt();
            }

            partition.RecycleGate.Release();
        }
    }

    /// <summary>
    /// Starts a new instance and makes it current; the old one drains in the background. Returns
    /// <see langword="null"/> when the host began to stop meanwhile: the new instance is then disposed, not installed.
    /// </summary>
    private async Task<PartitionInstance?> ReplaceAsync(Partition partition, PartitionInstance old, RecycleCause cause, CancellationToken cancellationToken)
    {
        partition.OnRecycleStarted();
        var slotTaken = false;
        PartitionInstance? next = null;
        try
        {
            await _recycleSlots.WaitAsync(cancellationToken).ConfigureAwait(false);
            slotTaken = true;
            next = CreateInstance(partition, old.Generation + 1);
            await RunStartedHooksAsync(next).ConfigureAwait(false);
            if (_stopRequested)
            {
                // The stop gathers the instances to dispose once the recycles in progress have ended: this one too.
                return null;
            }

            partition.OnRecycled(cause, TimeProvider.GetUtcNow());
            partition.Current = next;
            if (old.Thread is { } oldThread)
            {
                if (cause == RecycleCause.Stalled)
                {
                    // The old thread is stuck in a segment that does not end: what waits on it goes to the new one now
                    // (requests not started yet start over there, now that it is current).
                    oldThread.Abandon(next.Thread);
                }
                else
                {
                    // Continuations still captured on the old thread move on to the new one once it has ended.
                    oldThread.Successor = next.Thread;
                }
            }

            partition.IsStalled = false;
            Metrics.Recycled(partition.Id, cause);
            Log.Recycled(_logger, partition.Id, next.Generation, cause, old.ActiveRequests);

            // The old instance drains in the background, holding the recycle slot, so that recycles stay staggered.
            _retiring[old] = RetireAsync(old);
            return next;
        }
        finally
        {
            var replaced = next is not null && partition.Current == next;
            if (slotTaken && !replaced)
            {
                _recycleSlots.Release();
            }

            partition.OnRecycleEnded();
        }
    }

    /// <summary>
    /// Drains a replaced instance and disposes it. After <c>RecycleDrainTimeout</c>, what still runs there (a
    /// WebSocket, a stream, a long poll, a stuck request) is aborted and the instance disposed anyway. At shutdown the
    /// stop takes over.
    /// </summary>
    private async Task RetireAsync(PartitionInstance old)
    {
        try
        {
            if (!await WaitIdleAsync(old, _options.RecycleDrainTimeout, _stopping.Token).ConfigureAwait(false))
            {
                if (_stopping.IsCancellationRequested)
                {
                    return;
                }

                var aborted = old.AbortInFlight();
                Log.RecycleDrainTimedOut(_logger, old.Id, old.Generation, aborted, _options.RecycleDrainTimeout);
                await WaitIdleAsync(old, s_abortGrace, _stopping.Token).ConfigureAwait(false);
                if (_stopping.IsCancellationRequested)
                {
                    return;
                }
            }

            await DisposeInstanceAsync(old).ConfigureAwait(false);
        }
        finally
        {
            _recycleSlots.Release();
            _retiring.TryRemove(old, out _);
        }
    }

    private async Task<bool> WaitIdleAsync(PartitionInstance instance, TimeSpan timeout, CancellationToken cancellationToken)
    {
        try
        {
            await instance.WhenIdleAsync().WaitAsync(timeout, TimeProvider, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>
    /// Runs the stopping hooks, disposes the container (on the partition's thread) and ends the thread, once per
    /// instance, all within a timeout, and within a short grace after the host's shutdown deadline: a partition whose
    /// thread is blocked cannot hold up a recycle or the host's shutdown; it is then left to the garbage collector, logged.
    /// </summary>
    private async Task DisposeInstanceAsync(PartitionInstance instance)
    {
        if (!instance.TryBeginDispose())
        {
            return;
        }

        using var timeout = new CancellationTokenSource(s_disposeTimeout, TimeProvider);
        using var deadline = _disposalDeadline.Token.UnsafeRegister(static t => ((CancellationTokenSource)t!).Cancel(), timeout);
        var cancellationToken = timeout.Token;
        var stage = "stopping hooks";
        try
        {
            foreach (var hook in GetLifecycleHooks(instance))
            {
                try
                {
                    await instance.InvokeAsync(h => ((IPartitionLifecycleHook)h).OnStoppingAsync(instance, cancellationToken), hook)
                        .WaitAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    Log.LifecycleHookFailed(_logger, instance.Id, "stopping", ex);
                }
            }

            // Partition-local services are disposed where they live: on the partition's thread.
            stage = "disposing its services";
            try
            {
                await instance.InvokeAsync(static c => ((PartitionContainer)c).DisposeAsync().AsTask(), instance.Container)
                    .WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                Log.DisposeFailed(_logger, instance.Id, ex);
            }

            if (instance.Thread is { } thread)
            {
                stage = "ending its thread";
                thread.Stop();
                await thread.Exited.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            Log.DisposeAbandoned(_logger, instance.Id, instance.Generation, stage);
        }
        finally
        {
            _instances.TryRemove(instance, out _);
        }
    }

    /// <summary>
    /// The instance's lifecycle hooks; none when the application's services are already disposed (a host disposed
    /// without being stopped, after a failed start: the container disposes the runtime last).
    /// </summary>
    private static IEnumerable<IPartitionLifecycleHook> GetLifecycleHooks(PartitionInstance instance)
    {
        try
        {
            return [.. instance.Services.GetServices<IPartitionLifecycleHook>()];
        }
        catch (ObjectDisposedException)
        {
            return [];
        }
    }

    /// <summary>The watchdog's tick: stalls of single-threaded partitions, and lifetimes.</summary>
    private void Watch()
    {
        if (!_running)
        {
            return;
        }

        foreach (var partition in _partitions)
        {
            var instance = partition.Current;
            if (instance.Thread is { } thread)
            {
                var started = thread.TurnStartedAt;
                var turn = started == 0 ? TimeSpan.Zero : TimeProvider.GetElapsedTime(started);
                if (turn > _options.StallThreshold)
                {
                    partition.StalledFor = turn;
                    if (!partition.IsStalled)
                    {
                        partition.IsStalled = true;
                        Log.Stalled(_logger, partition.Id, turn.TotalMilliseconds, instance.LastRequest ?? "(unknown)");
                    }

                    if (_options.ReplaceStalledAfter is { } replaceAfter && turn > replaceAfter)
                    {
                        RequestRecycle(partition, instance, RecycleCause.Stalled);
                    }
                }
                else if (partition.IsStalled)
                {
                    partition.IsStalled = false;
                    Log.Recovered(_logger, partition.Id, partition.StalledFor?.TotalMilliseconds ?? 0);
                }
            }

            if (instance.RecycleAfter is { } lifetime && TimeProvider.GetElapsedTime(instance.StartedAt) > lifetime)
            {
                RequestRecycle(partition, instance, RecycleCause.Lifetime);
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
