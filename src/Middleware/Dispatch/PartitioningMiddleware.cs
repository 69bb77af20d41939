using System.Globalization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.ObjectPool;
using Microsoft.Net.Http.Headers;
using PartitionedHosting.Configuration;
using PartitionedHosting.DependencyInjection;
using PartitionedHosting.Diagnostics;
using PartitionedHosting.Partitions;

namespace PartitionedHosting.Dispatch;

/// <summary>
/// The first middleware of the application: it finds the request's partition (the connection's, given by the
/// partitioned server, or one chosen per request where there is no such connection), admits the request or answers
/// 503 at once, and runs the rest of the pipeline in the partition with the partition's services.
/// </summary>
internal sealed class PartitioningMiddleware
{
    private static readonly string s_retryAfter = PartitionedHostingDefaults.RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);

    // Enough for the requests that are between their hop in and their completion at once under heavy load.
    private const int MaxPooledRequests = 1024;

    private readonly RequestDelegate _next;
    private readonly PartitionRuntime _runtime;
    private readonly ObjectPool<PartitionRequest> _requests;
    private readonly ILogger _logger;

    public PartitioningMiddleware(RequestDelegate next, PartitionRuntime runtime, ILogger<PartitioningMiddleware> logger)
    {
        _next = next;
        _runtime = runtime;
        _requests = new DefaultObjectPool<PartitionRequest>(new DefaultPooledObjectPolicy<PartitionRequest>(), MaxPooledRequests);
        _logger = logger;
    }

    public Task InvokeAsync(HttpContext context)
    {
        if (!_runtime.IsRunning)
        {
            Log.RejectedAfterStop(_logger);
            return Reject(context);
        }

        if (context.Features.Get<IPartitionFeature>()?.Partition is not Partition partition || partition.Runtime != _runtime)
        {
            partition = _runtime.SelectPartition(context);
            context.Features.Set<IPartitionFeature>(partition);
        }

        if (!partition.TryAdmitRequest())
        {
            Log.QueueFull(_logger, partition.Id, partition.QueueLength);
            return Reject(context);
        }

        if (partition.Thread is not null)
        {
            return _requests.Get().Start(_requests, this, context, partition);
        }

        Task pipeline;
        try
        {
            pipeline = RunInPartition(context, partition);
        }
        catch
        {
            partition.OnRequestCompleted();
            throw;
        }

        if (pipeline.IsCompleted)
        {
            partition.OnRequestCompleted();
            return pipeline;
        }

        return AwaitFreeThreaded(pipeline, partition);
    }

    /// <summary>Runs the rest of the pipeline; called on the partition's thread for a single-threaded partition.</summary>
    internal Task RunInPartition(HttpContext context, Partition partition)
    {
        var features = context.Features;
        features.Set<IServiceProvidersFeature>(new PartitionServiceProvider(partition.Container, context, features.Get<IServiceProvidersFeature>()));
        if (partition.Thread is not null)
        {
            features.Set<IHttpResponseFeature>(new PartitionResponseFeature(features.GetRequiredFeature<IHttpResponseFeature>(), partition));
        }

        return _next(context);
    }

    private static async Task AwaitFreeThreaded(Task pipeline, Partition partition)
    {
        try
        {
            await pipeline.ConfigureAwait(false);
        }
        finally
        {
            partition.OnRequestCompleted();
        }
    }

    private static Task Reject(HttpContext context)
    {
        var response = context.Response;
        response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        response.Headers[HeaderNames.RetryAfter] = s_retryAfter;
        response.Headers.CacheControl = "no-store";
        return Task.CompletedTask;
    }
}
