using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Http;
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
internal sealed class PartitionRuntime : IPartitionManager, IAsyncDisposable
{
    private static readonly TimeSpan s_threadStopTimeout = TimeSpan.FromSeconds(5);

    private readonly IOptions<PartitionedHostingOptions> _optionsAccessor;
    private readonly PartitionServiceRegistry _registry;
    private readonly ConnectionDistributionPolicyRegistry _policies;
    private readonly PartitionKeyPolicyRegistry _keyPolicies;
    private readonly IServiceProvider _services;
    private readonly ILogger _logger;
    private readonly Lock _lifecycleLock = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentDictionary<PartitionInstance, Task> _retiring = new();
    private PartitionedHostingOptions _options = null!;
    private System.Collections.Frozen.FrozenDictionary<Type, bool> _localServices = null!;
    private Partition[] _partitions = [];
    private IConnectionDistributionPolicy _distribution = null!;
    private IPartitionKeyPolicy _keyPolicy = null!;
    private SemaphoreSlim _recycleSlots = null!;
    private ITimer? _watchdog;
    private Task? _started;
    private Task? _stopped;
    private volatile bool _running;

    public PartitionRuntime(
        IOptions<PartitionedHostingOptions> options,
        PartitionServiceRegistry registry,
        ConnectionDistributionPolicyRegistry policies,
        PartitionKeyPolicyRegistry keyPolicies,
        PartitionMetrics metrics,
        TimeProvider timeProvider,
        IServiceProvider services,
        ILogger<PartitionRuntime> logger)
    {
        _optionsAccessor = options;
        _registry = registry;
        _policies = policies;
        _keyPolicies = keyPolicies;
        Metrics = metrics;
        TimeProvider = timeProvider;
        _services = services;
        _logger = logger;
    }

    public TimeProvider TimeProvider { get; }

    public PartitionMetrics Metrics { get; }

    /// <summary>The randomness of recycle jitter; replaceable by tests.</summary>
    public Random Random { get; init; } = Random.Shared;

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

    /// <summary>Picks the partition of a new connection with the configured distribution policy, avoiding unavailable ones.</summary>
    public Partition SelectPartition(EndPoint? remoteEndPoint)
    {
        var partitions = _partitions;
        var index = _distribution.SelectPartition(new ConnectionDistributionContext(remoteEndPoint, partitions));
        if ((uint)index >= (uint)partitions.Length)
        {
            throw new InvalidOperationException(
                $"Connection distribution policy '{_distribution.Name}' returned partition {index}; valid partitions are 0 to {partitions.Length - 1}.");
        }

        return AvailableFrom(partitions[index]);
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
    /// <paramref name="partition"/> if it is available, else the next available one after it; when none is, the
    /// partition itself (its queue then decides).
    /// </summary>
    public Partition AvailableFrom(Partition partition)
    {
        if (partition.IsAvailable)
        {
            return partition;
        }

        var partitions = _partitions;
        for (var step = 1; step < partitions.Length; step++)
        {
            var candidate = partitions[(partition.Id + step) % partitions.Length];
            if (candidate.IsAvailable)
            {
                return candidate;
            }
        }

        return partition;
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

    /// <summary>Begins the log scope of code running in <paramref name="instance"/> (scopes are shared by every logger).</summary>
    public IDisposable? BeginLogScope(PartitionInstance instance) => _logger.BeginScope(instance.LogScope);

    public IReadOnlyList<PartitionSnapshot> GetSnapshots() => [.. _partitions.Select(p => p.Snapshot())];

    public Task RecycleAsync(int partitionId, CancellationToken cancellationToken = default)
    {
        var partitions = _partitions;
        ArgumentOutOfRangeException.ThrowIfNegative(partitionId);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(partitionId, partitions.Length);
        var partition = partitions[partitionId];
        partition.IsUnhealthy = false;
        partition.ResetFailures();
        return RecycleCoreAsync(partition, partition.Current, RecycleCause.Manual, manual: true, cancellationToken);
    }

    /// <summary>
    /// Starts a recycle in the background (a limit was reached, a fault, a deadlock), once per instance, on the thread
    /// pool: not on the thread that noticed (a request, the watchdog, a failing partition), nor in its execution context.
    /// </summary>
    public void RequestRecycle(Partition partition, PartitionInstance instance, RecycleCause cause)
    {
        if (instance.TryBeginRecycle())
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
            partition.IsUnhealthy = true;
            Log.CrashLoop(_logger, partition.Id, _options.CrashLoopMaxFailures, _options.CrashLoopWindow);
            return;
        }

        RequestRecycle(partition, instance, RecycleCause.Fault);
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
            partitions[id] = new Partition(this, id, partitions.Length, options.GetMode(id));
            partitions[id].Current = CreateInstance(partitions[id], generation: 1);
        }

        _partitions = partitions;
        Metrics.Attach(() => _partitions, partitions.Length);
        _running = true;

        await Task.WhenAll(partitions.Select(p => RunStartedHooksAsync(p.Current))).ConfigureAwait(false);

        var period = TimeSpan.FromTicks(Math.Clamp(options.StallThreshold.Ticks / 4, TimeSpan.FromMilliseconds(10).Ticks, TimeSpan.TicksPerSecond));
        _watchdog = TimeProvider.CreateTimer(static r => ((PartitionRuntime)r!).Watch(), this, period, period);

        var singleThreaded = partitions.Count(p => p.Mode == ExecutionMode.SingleThreaded);
        Log.PartitionsStarted(_logger, partitions.Length, singleThreaded, partitions.Length - singleThreaded, _distribution.Name);
    }

    private PartitionInstance CreateInstance(Partition partition, int generation)
    {
        var instance = new PartitionInstance(partition, generation, _options, Random);
        instance.Container = new PartitionContainer(instance, _registry.Descriptors, _localServices, _services);
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
            if (partition.Current != old || !_running)
            {
                return;
            }

            var next = await ReplaceAsync(partition, old, cause, cancellationToken).ConfigureAwait(false);
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

    private async Task<PartitionInstance> ReplaceAsync(Partition partition, PartitionInstance old, RecycleCause cause, CancellationToken cancellationToken)
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
            if (old.Thread is { } oldThread)
            {
                // Continuations still captured on the old thread (a connection's I/O loops) move on to the new one.
                oldThread.Successor = next.Thread;
            }

            partition.Current = next;
            partition.IsStalled = false;
            Metrics.Recycled(partition.Id, cause);
            Log.Recycled(_logger, partition.Id, next.Generation, cause, old.ActiveRequests);

            // The old instance drains in the background, holding the recycle slot, so that recycles stay staggered.
            _retiring[old] = RetireAsync(old);
            return next;
        }
        finally
        {
            var replaced = partition.Current == next;
            if (slotTaken && !replaced)
            {
                _recycleSlots.Release();
            }

            partition.OnRecycleEnded(replaced ? cause : null, TimeProvider.GetUtcNow());
        }
    }

    private async Task RetireAsync(PartitionInstance old)
    {
        try
        {
            if (await WaitIdleAsync(old, _options.RecycleDrainTimeout, _stopping.Token).ConfigureAwait(false))
            {
                await DisposeInstanceAsync(old, CancellationToken.None).ConfigureAwait(false);
            }
            else
            {
                Log.RecycleAbandoned(_logger, old.Id, old.Generation, old.ActiveRequests, _options.RecycleDrainTimeout);
            }
        }
        finally
        {
            _recycleSlots.Release();
            _retiring.TryRemove(old, out _);
        }
    }

    private static async Task<bool> WaitIdleAsync(PartitionInstance instance, TimeSpan timeout, CancellationToken cancellationToken)
    {
        try
        {
            await instance.WhenIdleAsync().WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>
    /// Runs the stopping hooks, disposes the container (on the partition's thread) and ends the thread; each step is
    /// bounded, so that a blocked partition cannot hold up a recycle or the host's shutdown.
    /// </summary>
    private async Task DisposeInstanceAsync(PartitionInstance instance, CancellationToken cancellationToken)
    {
        foreach (var hook in instance.Services.GetServices<IPartitionLifecycleHook>())
        {
            try
            {
                await instance.InvokeAsync(h => ((IPartitionLifecycleHook)h).OnStoppingAsync(instance, cancellationToken), hook)
                    .WaitAsync(s_threadStopTimeout, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                Log.LifecycleHookFailed(_logger, instance.Id, "stopping", ex);
            }
        }

        try
        {
            // Partition-local services are disposed where they live: on the partition's thread.
            await instance.InvokeAsync(static c => ((PartitionContainer)c).DisposeAsync().AsTask(), instance.Container)
                .WaitAsync(s_threadStopTimeout, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Log.DisposeFailed(_logger, instance.Id, ex);
        }

        if (instance.Thread is { } thread && !thread.Stop(s_threadStopTimeout))
        {
            Log.ThreadDidNotStop(_logger, instance.Id, s_threadStopTimeout);
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
                var turn = started == 0 ? TimeSpan.Zero : TimeProvider.System.GetElapsedTime(started);
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

        if (_watchdog is not null)
        {
            await _watchdog.DisposeAsync().ConfigureAwait(false);
        }

        var partitions = _partitions;
        var instances = partitions.Select(p => p.Current).ToList();
        Log.Draining(_logger, instances.Sum(i => i.ActiveRequests));
        var idle = Task.WhenAll(instances.Select(i => i.WhenIdleAsync()));
        try
        {
            await idle.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            foreach (var instance in instances.Where(i => i.ActiveRequests > 0))
            {
                Log.DrainTimedOut(_logger, instance.Id, instance.ActiveRequests);
            }
        }

        // Ends the waits of instances still draining from a recycle: they are abandoned, as after their own timeout.
        _running = false;
        await _stopping.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(_retiring.Values).ConfigureAwait(false);
        foreach (var instance in instances)
        {
            await DisposeInstanceAsync(instance, cancellationToken).ConfigureAwait(false);
        }

        Log.PartitionsStopped(_logger, partitions.Length);
    }
}
