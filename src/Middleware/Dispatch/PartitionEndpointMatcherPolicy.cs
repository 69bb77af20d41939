using System.Collections.Concurrent;
using System.Reflection;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc.Abstractions;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Matching;
using PartitionedHosting.Affinity;
using PartitionedHosting.Execution;
using PartitionedHosting.Partitions;

namespace PartitionedHosting.Dispatch;

/// <summary>
/// Routes a request whose endpoint needs the partition runtime's help to a twin of that endpoint: the same pattern,
/// order and metadata, whose request delegate adds that help around the original. Acting at endpoint selection makes
/// it work for every kind of endpoint, for keys declared in code or in configuration, after the application's
/// middleware. Two kinds of endpoints get a twin:
/// <list type="bullet">
/// <item>Keyed endpoints: the request moves to its key's owner partition for the endpoint (see <see cref="AffinityDispatcher"/>).</item>
/// <item>Pinned endpoints (<see cref="RunOnPartitionAttribute"/>): the request moves to that partition for the endpoint.</item>
/// <item>
/// Minimal API endpoints that return an async stream (<see cref="IAsyncEnumerable{T}"/>, or Server-Sent Events): the
/// framework enumerates the stream after its own <c>ConfigureAwait(false)</c>, off the partition's thread, with no hook
/// to bring it back; the request's flow is guarded instead (see <see cref="PartitionFlow"/>), so that its code still
/// runs one synchronous segment at a time, under the partition's turn. MVC actions do not need it: a result filter
/// keeps their streams on the partition's thread.
/// </item>
/// </list>
/// </summary>
internal sealed class PartitionEndpointMatcherPolicy(AffinityDispatcher dispatcher, PartitionKeyCatalog keys)
    : MatcherPolicy, IEndpointSelectorPolicy
{
    private readonly ConcurrentDictionary<Endpoint, Endpoint?> _twins = new();
    private Func<Endpoint, Endpoint?>? _createTwin;

    // After the policies that decide which candidates are valid (HTTP method, host, ...).
    public override int Order => int.MaxValue - 1000;

    public bool AppliesToEndpoints(IReadOnlyList<Endpoint> endpoints) =>
        endpoints.Any(e => keys.GetKey(e) is not null || e.Metadata.GetMetadata<RunOnPartitionAttribute>() is not null || ReturnsAsyncStream(e));

    public Task ApplyAsync(HttpContext httpContext, CandidateSet candidates)
    {
        for (var i = 0; i < candidates.Count; i++)
        {
            if (candidates.IsValidCandidate(i) && _twins.GetOrAdd(candidates[i].Endpoint, _createTwin ??= CreateTwin) is { } twin)
            {
                candidates.ReplaceEndpoint(i, twin, candidates[i].Values);
            }
        }

        return Task.CompletedTask;
    }

    /// <summary>
    /// Whether the endpoint is a minimal API handler whose declared result is an async stream the framework will
    /// enumerate: <see cref="IAsyncEnumerable{T}"/> or Server-Sent Events, directly or in a task.
    /// </summary>
    internal static bool ReturnsAsyncStream(Endpoint endpoint)
    {
        if (endpoint.Metadata.GetMetadata<MethodInfo>() is not { } handler || endpoint.Metadata.GetMetadata<ActionDescriptor>() is not null)
        {
            return false;
        }

        var result = handler.ReturnType;
        if (result.IsGenericType && (result.GetGenericTypeDefinition() == typeof(Task<>) || result.GetGenericTypeDefinition() == typeof(ValueTask<>)))
        {
            result = result.GetGenericArguments()[0];
        }

        return PartitionStreams.GetAsyncEnumerableInterface(result) is not null ||
            (result.IsGenericType && result.GetGenericTypeDefinition() == typeof(ServerSentEventsResult<>));
    }

    private Endpoint? CreateTwin(Endpoint endpoint)
    {
        if (endpoint is not RouteEndpoint route || route.RequestDelegate is not { } original)
        {
            return null;
        }

        var key = keys.GetKey(endpoint);
        var pinned = endpoint.Metadata.GetMetadata<RunOnPartitionAttribute>();
        var streams = ReturnsAsyncStream(endpoint);
        if (key is null && pinned is null && !streams)
        {
            return null;
        }

        var run = streams ? context => RunGuarded(context, original) : original;
        RequestDelegate twin = pinned is not null ? context => dispatcher.InvokeOnPartitionAsync(context, run, pinned.Partition)
            : key is not null ? context => dispatcher.InvokeAsync(context, run, key)
            : run;
        var metadata = key is not null && endpoint.Metadata.GetMetadata<IPartitionKeyMetadata>() is null
            ? new EndpointMetadataCollection([.. endpoint.Metadata, key])
            : endpoint.Metadata;
        return new RouteEndpoint(twin, route.RoutePattern, route.Order, metadata, route.DisplayName);
    }

    /// <summary>Runs the endpoint in a guarded flow of its single-threaded partition; as it is in a free-threaded one.</summary>
    private static Task RunGuarded(HttpContext context, RequestDelegate endpoint)
    {
        if (context.Features.Get<IPartitionFeature>()?.Partition is not PartitionInstance { Thread: { IsCurrent: true } thread } partition)
        {
            return endpoint(context);
        }

        // The request's flow exists when the escape detector watches it: guarded from here on, it keeps one identity.
        if (PartitionFlow.Current is { } flow && flow.Thread == thread)
        {
            flow.Guard();
            return endpoint(context);
        }

        return RunGuardedAsync(context, endpoint, partition);
    }

    private static async Task RunGuardedAsync(HttpContext context, RequestDelegate endpoint, PartitionInstance instance)
    {
        PartitionFlow.Current = new PartitionFlow(instance.Thread!, instance.Id, context.Request.Path.Value, guarded: true, instance.Runtime.Escapes);
        await endpoint(context).ConfigureAwait(false);
    }
}
