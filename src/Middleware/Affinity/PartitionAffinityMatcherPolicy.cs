using System.Collections.Concurrent;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Matching;

namespace PartitionedHosting.Affinity;

/// <summary>
/// Routes a request of a keyed endpoint to the endpoint's affinity wrapper: the same endpoint, with the same
/// metadata, whose request delegate first moves the request to its key's owner partition. Because it acts at
/// endpoint selection, it works for every kind of endpoint (minimal APIs, controllers, Razor Pages), for keys
/// declared in code or in configuration, and runs after the application's middleware, which stays on the
/// connection's partition.
/// </summary>
internal sealed class PartitionAffinityMatcherPolicy(AffinityDispatcher dispatcher, PartitionKeyCatalog keys)
    : MatcherPolicy, IEndpointSelectorPolicy
{
    private readonly ConcurrentDictionary<Endpoint, Endpoint?> _wrapped = new();
    private Func<Endpoint, Endpoint?>? _wrap;

    // After the policies that decide which candidates are valid (HTTP method, host, ...).
    public override int Order => int.MaxValue - 1000;

    public bool AppliesToEndpoints(IReadOnlyList<Endpoint> endpoints) => endpoints.Any(e => GetKey(e) is not null);

    public Task ApplyAsync(HttpContext httpContext, CandidateSet candidates)
    {
        for (var i = 0; i < candidates.Count; i++)
        {
            if (candidates.IsValidCandidate(i) && _wrapped.GetOrAdd(candidates[i].Endpoint, _wrap ??= Wrap) is { } wrapped)
            {
                candidates.ReplaceEndpoint(i, wrapped, candidates[i].Values);
            }
        }

        return Task.CompletedTask;
    }

    private Endpoint? Wrap(Endpoint endpoint)
    {
        if (endpoint is not RouteEndpoint route || route.RequestDelegate is not { } inner || GetKey(endpoint) is not { } key)
        {
            return null;
        }

        var metadata = endpoint.Metadata.GetMetadata<IPartitionKeyMetadata>() is null
            ? new EndpointMetadataCollection([.. endpoint.Metadata, key])
            : endpoint.Metadata;
        return new RouteEndpoint(context => dispatcher.InvokeAsync(context, inner, key), route.RoutePattern, route.Order, metadata, route.DisplayName);
    }

    private IPartitionKeyMetadata? GetKey(Endpoint endpoint) => keys.GetKey(endpoint);

}
