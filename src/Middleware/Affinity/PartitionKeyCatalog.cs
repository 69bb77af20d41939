using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Template;
using Microsoft.Extensions.Options;

namespace PartitionedHosting.Affinity;

/// <summary>
/// Which endpoints are keyed, by metadata (<c>WithPartitionKey</c>, <c>[PartitionKey]</c>) or by configuration
/// (<c>PartitionedHosting:Keys</c>); and, before routing has run, a guess at a request's key owner from the keyed
/// endpoints' route templates, so that the partitioning middleware can send a keyed request straight to its owner
/// instead of to its connection's partition first (saving the two hops of moving it there and back).
/// </summary>
/// <remarks>
/// The guess ignores route constraints and other endpoints that might win the match: it only chooses where the
/// request starts. The affinity dispatcher still checks the real endpoint's key and moves the request if the guess
/// was wrong.
/// </remarks>
internal sealed class PartitionKeyCatalog(IOptions<PartitionedHostingOptions> options, EndpointDataSource? endpoints = null)
{
    // An application without routing (no AddRouting: an empty builder with middleware only) has no endpoints to key.
    private readonly EndpointDataSource _endpoints = endpoints ?? new DefaultEndpointDataSource();

    [ThreadStatic]
    private static RouteValueDictionary? t_values;

    private Dictionary<string, IPartitionKeyMetadata>? _declaredKeys;
    private volatile KeyedRoutes? _routes;

    public IPartitionKeyMetadata? GetKey(Endpoint endpoint)
    {
        if (endpoint.Metadata.GetMetadata<IPartitionKeyMetadata>() is { } declared)
        {
            return declared;
        }

        var keys = _declaredKeys ??= options.Value.Keys.ToDictionary(
            k => Normalize(k.Pattern),
            k => (IPartitionKeyMetadata)new PartitionKeyAttribute(k.Source, k.Name),
            StringComparer.OrdinalIgnoreCase);
        return endpoint is RouteEndpoint { RoutePattern.RawText: { } pattern } && keys.TryGetValue(Normalize(pattern), out var configured)
            ? configured
            : null;
    }

    /// <summary>The key of the first keyed endpoint whose template and method match the request, if any.</summary>
    /// <remarks>
    /// Only the keyed templates that can match are tried: those whose first segment is the request path's first
    /// segment (one dictionary lookup, whatever the number of keyed endpoints), and those whose first segment is not a
    /// plain literal. An unkeyed request of an application without such templates pays that lookup alone.
    /// </remarks>
    public string? GuessKey(HttpContext context)
    {
        var routes = _routes ?? BuildRoutes();
        if (routes.IsEmpty)
        {
            return null;
        }

        var request = context.Request;
        var path = request.Path.Value.AsSpan();
        var first = path.Length > 0 && path[0] == '/' ? path[1..] : path;
        if (first.IndexOf('/') is var end and >= 0)
        {
            first = first[..end];
        }

        var literal = routes.ByFirstSegment.TryGetValue(first, out var matching) ? matching : [];
        var other = routes.Others;
        if (literal.Length == 0 && other.Length == 0)
        {
            return null;
        }

        // Both lists are in endpoint order: merge them, so that the first keyed endpoint in that order wins.
        int l = 0, o = 0;
        while (l < literal.Length || o < other.Length)
        {
            var route = o == other.Length || (l < literal.Length && literal[l].Order < other[o].Order) ? literal[l++] : other[o++];
            if (TryGetKey(context, request, route) is { } key)
            {
                return key;
            }
        }

        return null;
    }

    private static string? TryGetKey(HttpContext context, HttpRequest request, KeyedRoute route)
    {
        if (route.Methods is not null && !route.Methods.Contains(request.Method))
        {
            return null;
        }

        var values = t_values ??= [];
        values.Clear();
        if (!route.Matcher.TryMatch(request.Path, values))
        {
            return null;
        }

        return PartitionKeyReader.ReadMatched(context, route.Key, values);
    }

    private KeyedRoutes BuildRoutes()
    {
        var byFirstSegment = new Dictionary<string, List<KeyedRoute>>(StringComparer.OrdinalIgnoreCase);
        var others = new List<KeyedRoute>();
        var order = 0;
        foreach (var endpoint in _endpoints.Endpoints)
        {
            if (endpoint is RouteEndpoint route && GetKey(endpoint) is { } key && route.RoutePattern.RawText is not null)
            {
                var methods = endpoint.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods;
                var keyed = new KeyedRoute(
                    new TemplateMatcher(new RouteTemplate(route.RoutePattern), new RouteValueDictionary(route.RoutePattern.Defaults)),
                    key,
                    methods is { Count: > 0 } ? new HashSet<string>(methods, StringComparer.OrdinalIgnoreCase) : null,
                    order++);
                if (FirstLiteralSegment(route.RoutePattern) is { } first)
                {
                    (byFirstSegment.TryGetValue(first, out var list) ? list : byFirstSegment[first] = []).Add(keyed);
                }
                else
                {
                    others.Add(keyed);
                }
            }
        }

        var built = new KeyedRoutes(
            byFirstSegment.ToDictionary(p => p.Key, p => p.Value.ToArray(), StringComparer.OrdinalIgnoreCase).GetAlternateLookup<ReadOnlySpan<char>>(),
            [.. others]);
        _routes = built;

        // Endpoints added later (a dynamic data source) rebuild the table.
        _endpoints.GetChangeToken().RegisterChangeCallback(static c => ((PartitionKeyCatalog)c!)._routes = null, this);
        return built;
    }

    /// <summary>The first segment of <paramref name="pattern"/> when it is one plain literal ("" for <c>/</c>); otherwise null.</summary>
    private static string? FirstLiteralSegment(Microsoft.AspNetCore.Routing.Patterns.RoutePattern pattern) =>
        pattern.PathSegments.Count == 0
            ? ""
            : pattern.PathSegments[0] is { IsSimple: true, Parts: [Microsoft.AspNetCore.Routing.Patterns.RoutePatternLiteralPart literal] }
                ? literal.Content
                : null;

    private static string Normalize(string pattern) => "/" + pattern.Trim().Trim('/');

    private sealed record KeyedRoute(TemplateMatcher Matcher, IPartitionKeyMetadata Key, HashSet<string>? Methods, int Order);

    private sealed class KeyedRoutes(Dictionary<string, KeyedRoute[]>.AlternateLookup<ReadOnlySpan<char>> byFirstSegment, KeyedRoute[] others)
    {
        public Dictionary<string, KeyedRoute[]>.AlternateLookup<ReadOnlySpan<char>> ByFirstSegment => byFirstSegment;

        public KeyedRoute[] Others => others;

        public bool IsEmpty => byFirstSegment.Dictionary.Count == 0 && others.Length == 0;
    }
}
