using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Template;
using Microsoft.Extensions.Options;
using PartitionedHosting.Configuration;
using PartitionedHosting.Partitions;

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
internal sealed class PartitionKeyCatalog(EndpointDataSource endpoints, IOptions<PartitionedHostingOptions> options)
{
    [ThreadStatic]
    private static RouteValueDictionary? t_values;

    private Dictionary<string, IPartitionKeyMetadata>? _declaredKeys;
    private volatile KeyedRoute[]? _routes;

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
    public string? GuessKey(HttpContext context)
    {
        var routes = _routes ?? BuildRoutes();
        if (routes.Length == 0)
        {
            return null;
        }

        var request = context.Request;
        var values = t_values ??= [];
        foreach (var route in routes)
        {
            values.Clear();
            if ((route.Methods is null || route.Methods.Contains(request.Method)) && route.Matcher.TryMatch(request.Path, values))
            {
                var key = route.Key.Source == PartitionKeySource.Route
                    ? (values.TryGetValue(route.Key.Name, out var value) ? Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture) : null)
                    : PartitionKeyReader.Read(context, route.Key) is { Status: PartitionKeyStatus.Found, Key: var found } ? found : null;
                if (!string.IsNullOrEmpty(key))
                {
                    return key;
                }
            }
        }

        return null;
    }

    private KeyedRoute[] BuildRoutes()
    {
        var routes = new List<KeyedRoute>();
        foreach (var endpoint in endpoints.Endpoints)
        {
            if (endpoint is RouteEndpoint route && GetKey(endpoint) is { } key && route.RoutePattern.RawText is not null)
            {
                var methods = endpoint.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods;
                routes.Add(new KeyedRoute(
                    new TemplateMatcher(new RouteTemplate(route.RoutePattern), new RouteValueDictionary(route.RoutePattern.Defaults)),
                    key,
                    methods is { Count: > 0 } ? new HashSet<string>(methods, StringComparer.OrdinalIgnoreCase) : null));
            }
        }

        var built = routes.ToArray();
        _routes = built;

        // Endpoints added later (a dynamic data source) rebuild the table.
        endpoints.GetChangeToken().RegisterChangeCallback(static c => ((PartitionKeyCatalog)c!)._routes = null, this);
        return built;
    }

    private static string Normalize(string pattern) => "/" + pattern.Trim().Trim('/');

    private sealed record KeyedRoute(TemplateMatcher Matcher, IPartitionKeyMetadata Key, HashSet<string>? Methods);
}
