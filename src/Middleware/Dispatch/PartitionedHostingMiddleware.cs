using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.ObjectPool;
using PartitionedHosting.Affinity;
using PartitionedHosting.Diagnostics;
using PartitionedHosting.Execution;
using PartitionedHosting.Partitions;

namespace PartitionedHosting.Dispatch;

/// <summary>
/// The first middleware of the application: it finds the request's partition (the connection's, given by the
/// partitioned server, or one chosen per request where there is no such connection), admits the request or answers
/// 503 at once, and runs the rest of the pipeline in the partition with the partition's services.
/// </summary>
internal sealed class PartitionedHostingMiddleware
{
    // Enough for the requests that are between their hop in and their completion at once under heavy load.
    private const int MaxPooledRequests = 1024;

    private readonly RequestDelegate _next;
    private readonly PartitionKeyCatalog _keys;
    private readonly UnpartitionedEndpoints _unpartitioned;
    private readonly PartitionRuntime _runtime;
    private readonly ObjectPool<PartitionRequest> _requests;
    private readonly ILogger _logger;

    public PartitionedHostingMiddleware(RequestDelegate next, PartitionRuntime runtime, PartitionKeyCatalog keys, UnpartitionedEndpoints unpartitioned, ILogger<PartitionedHostingMiddleware> logger)
    {
        _keys = keys;
        _unpartitioned = unpartitioned;
        _next = next;
        _runtime = runtime;
        _requests = new DefaultObjectPool<PartitionRequest>(new DefaultPooledObjectPolicy<PartitionRequest>(), MaxPooledRequests);
        _logger = logger;
    }

    /// <summary>The middleware's logger, for the requests it queued.</summary>
    internal ILogger Logger => _logger;

    public Task InvokeAsync(HttpContext context)
    {
        // Looked up once and passed along: a feature the server does not know costs it a search of every one it knows,
        // then of the connection's.
        var connection = context.Features[typeof(IPartitionFeature)] as ConnectionPartition;
        if (HttpProtocol.IsHttp2(context.Request.Protocol))
        {
            // Its streams run at once: each names the instance serving it in a feature of its own. Kestrel queues each
            // stream to the thread pool, so the connection gains nothing from being read on its partition's thread
            // (Partitioned transport), and its other streams would wait there behind whatever holds it: it leaves.
            connection?.SetMultiplexed();
        }

        // Health checks, diagnostics: outside every partition, so that they never wait behind one; and off a partition's
        // thread (the Partitioned transport reads a connection's next request there), so that they never block one.
        if (_unpartitioned.Matches(context))
        {
            return PartitionThread.Current is null ? _next(context) : RunUnpartitionedOnThreadPool(context);
        }

        if (!_runtime.IsRunning)
        {
            Log.RejectedAfterStop(_logger);
            return PartitionResponses.ServiceUnavailable(context);
        }

        Partition partition;
        if (_keys.GuessKey(context) is { } key && _runtime.GetOwner(key) is { IsAvailable: true } owner)
        {
            // A keyed request starts on its key's owner: no move there and back when its endpoint runs.
            partition = owner;
            if (connection?.Partition != owner)
            {
                context.Features.Set<IPartitionFeature>(partition);
                connection = null;
            }
        }
        else if (connection is not { Partition: var connectionPartition } || connectionPartition.Runtime != _runtime)
        {
            partition = _runtime.SelectPartition(context);
            context.Features.Set<IPartitionFeature>(partition);
            connection = null;
        }
        else if (!(partition = connectionPartition).IsAvailable)
        {
            // The connection's partition is stalled or unhealthy: this request goes elsewhere, the connection stays.
            partition = _runtime.AvailableFrom(partition);
            context.Features.Set<IPartitionFeature>(partition);
            connection = null;
        }

        // From here, connection is the one whose feature names the request's partition (none when the request has a
        // feature of its own).
        var admission = partition.AdmitAsync(context);
        return admission.IsCompletedSuccessfully
            ? Dispatch(context, admission.Result, connection)
            : DispatchWhenAdmittedAsync(context, admission, connection);
    }

    /// <summary>
    /// Runs the rest of the pipeline; called on the partition's thread for a single-threaded partition.
    /// <c>connection</c> is the connection whose feature names the request's partition, or <see langword="null"/> when
    /// the request has an <see cref="IPartitionFeature"/> of its own (chosen per request, by key, or elsewhere than the
    /// connection's).
    /// </summary>
    internal Task RunInPartition(HttpContext context, PartitionInstance instance, RateLimitLease? lease, ConnectionPartition? connection, bool callbacksOffPartitionThreads = false)
    {
        // The instance follows the request until its response completes: first, so that its callback runs last.
        // Features by their type rather than Get<T>/Set<T>: a server's collection answers a type it knows with a few
        // comparisons of constants, where the generic methods cost a virtual generic call and a runtime type lookup.
        var features = context.Features;
        var serverResponse = (IHttpResponseFeature?)features[typeof(IHttpResponseFeature)] ??
            throw new InvalidOperationException($"The server did not provide an {nameof(IHttpResponseFeature)}.");
        var request = instance.Track(context, serverResponse, lease);

        // The instance that serves the request (a recycle may make another one current meanwhile): named by the
        // connection's feature when the request runs in the connection's partition, else by a feature of its own.
        if (connection is null || !request.TryServe(connection))
        {
            features[typeof(IPartitionFeature)] = instance;
        }

        // Its services and, single-threaded, its response callbacks.
        PartitionTracing.Served(context, instance);
        request.Services.InitializeForRequest(instance.Container, context, (IServiceProvidersFeature?)features[typeof(IServiceProvidersFeature)]);
        features[typeof(IServiceProvidersFeature)] = request.Services;
        if (instance.Thread is { } thread)
        {
            // For the stall log: only a single-threaded partition stalls.
            instance.LastRequest = context.Request.Path.Value;
            request.Response.Initialize(serverResponse, instance);
            features[typeof(IHttpResponseFeature)] = request.Response;
            if (_runtime.Escapes is { } escapes)
            {
                // Called in an execution context of the request's own (see the callers): the flow marks it, and what it starts.
                PartitionFlow.Current = new PartitionFlow(thread, instance.Id, context.Request.Path.Value, guarded: false, escapes);
            }
        }
        else if (callbacksOffPartitionThreads)
        {
            request.Response.Initialize(serverResponse, instance);
            features[typeof(IHttpResponseFeature)] = request.Response;
        }

        // Disposed when the synchronous part returns; the request's continuations keep the scope they captured.
        using var scope = _runtime.BeginLogScope(instance);
        Task pipeline;
        try
        {
            pipeline = _next(context);
        }
        catch (Exception error) when (request.EndsOnFailure)
        {
            pipeline = Task.FromException(error);
        }

        return request.EndOnFailure(pipeline);
    }

    private Task Dispatch(HttpContext context, PartitionAdmission admission, ConnectionPartition? connection)
    {
        var instance = admission.Instance!;
        if (!admission.IsAdmitted)
        {
            return Log.Rejected(_logger, _runtime.Metrics, context, instance, admission.RejectionReason);
        }

        if (instance.Thread is { } thread)
        {
            if (!admission.RunsInline)
            {
                return _requests.Get().Start(_requests, this, context, instance, admission.Lease, connection);
            }

            // Already on the partition's thread: no hop, but the partition's context must be current, so that the
            // request's awaits come back to this thread.
            using var scope = new SynchronizationContextScope(thread.Context);
            return _runtime.Escapes is null ? RunHere(context, instance, admission, connection) : RunHereInOwnExecutionContext(context, instance, admission, connection);
        }

        // A free-threaded partition's request reached on a single-threaded partition's thread (a keyed request owned by
        // it, on a connection of the other with the Partitioned transport, or pipelined after one): not there.
        return PartitionThread.Current is null
            ? RunHere(context, instance, admission, connection)
            : RunOnThreadPool(context, instance, admission, connection);
    }

    /// <summary>An endpoint without partition reached on a partition's thread: on the thread pool, with no partition's context.</summary>
    private Task RunUnpartitionedOnThreadPool(HttpContext context) => Task.Run(() => _next(context));

    /// <summary>
    /// Runs a free-threaded partition's request on the thread pool, with its response callbacks, which the server runs
    /// on the single-threaded partition's thread it came from. A method of its own, so that other requests do not
    /// allocate the closure.
    /// </summary>
    private Task RunOnThreadPool(HttpContext context, PartitionInstance instance, PartitionAdmission admission, ConnectionPartition? connection) =>
        Task.Run(() => RunInPartition(context, instance, admission.Lease, connection, callbacksOffPartitionThreads: true));

    /// <summary>
    /// <see cref="RunHere"/> in an execution context of the request's own, so that the escape detector's marker does not
    /// stay in the server's (the request runs inline in the server's code).
    /// </summary>
    private Task RunHereInOwnExecutionContext(HttpContext context, PartitionInstance instance, PartitionAdmission admission, ConnectionPartition? connection)
    {
        if (ExecutionContext.Capture() is not { } executionContext)
        {
            return RunHere(context, instance, admission, connection);
        }

        var run = new InlineRun(this, context, instance, admission, connection);
        ExecutionContext.Run(executionContext, static r => ((InlineRun)r!).Run(), run);
        return run.Pipeline!;
    }

    /// <summary>Runs the rest of the pipeline on the calling thread.</summary>
    private Task RunHere(HttpContext context, PartitionInstance instance, PartitionAdmission admission, ConnectionPartition? connection) =>
        RunInPartition(context, instance, admission.Lease, connection);

    private async Task DispatchWhenAdmittedAsync(HttpContext context, ValueTask<PartitionAdmission> admission, ConnectionPartition? connection) =>
        await Dispatch(context, await admission.ConfigureAwait(false), connection).ConfigureAwait(false);

    private sealed class InlineRun(PartitionedHostingMiddleware middleware, HttpContext context, PartitionInstance instance, PartitionAdmission admission, ConnectionPartition? connection)
    {
        public Task? Pipeline { get; private set; }

        public void Run() => Pipeline = middleware.RunHere(context, instance, admission, connection);
    }
}
