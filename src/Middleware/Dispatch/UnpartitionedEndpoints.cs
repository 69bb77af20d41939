using System.Collections.Frozen;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Patterns;
using Microsoft.AspNetCore.Routing.Template;

namespace PartitionedHosting.Dispatch;

/// <summary>
/// The endpoints that run outside the partitions (<see cref="WithoutPartitionAttribute"/>), matched against a request
/// before routing, so that the partitioning middleware can let it through without a partition: by exact path for
/// patterns without parameters (a dictionary lookup), by template otherwise.
/// </summary>
internal sealed class UnpartitionedEndpoints(EndpointDataSource? endpoints = null)
{
    // An application without routing (no AddRouting: an empty builder with middleware only) has none.
    private readonly EndpointDataSource _endpoints = endpoints ?? new DefaultEndpointDataSource();

    private volatile Routes? _routes;

    public bool Matches(HttpContext context)
    {
        var routes = _routes ?? Build();
        if (routes.IsEmpty)
        {
            return false;
        }

        var request = context.Request;
        var path = request.Path.Value is { Length: > 1 } value && value[^1] == '/' ? value[..^1] : request.Path.Value ?? "/";
        if (routes.Literal.TryGetValue(path, out var literalMethods) && Allows(literalMethods, request.Method))
        {
            return true;
        }

        foreach (var (matcher, methods) in routes.Templates)
        {
            if (Allows(methods, request.Method) && matcher.TryMatch(request.Path, []))
            {
                return true;
            }
        }

        return false;
    }

    private static bool Allows(FrozenSet<string>? methods, string method) => methods is null || methods.Contains(method);

    private Routes Build()
    {
        var literal = new Dictionary<string, FrozenSet<string>?>(StringComparer.OrdinalIgnoreCase);
        var templates = new List<(TemplateMatcher, FrozenSet<string>?)>();
        foreach (var endpoint in _endpoints.Endpoints)
        {
            if (endpoint is not RouteEndpoint { RoutePattern: var pattern } || endpoint.Metadata.GetMetadata<WithoutPartitionAttribute>() is null)
            {
                continue;
            }

            var methods = endpoint.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods is { Count: > 0 } listed
                ? listed.ToFrozenSet(StringComparer.OrdinalIgnoreCase)
                : null;
            if (pattern.Parameters.Count == 0)
            {
                literal["/" + string.Join('/', pattern.PathSegments.Select(s => string.Concat(s.Parts.OfType<RoutePatternLiteralPart>().Select(p => p.Content))))] = methods;
            }
            else
            {
                templates.Add((new TemplateMatcher(new RouteTemplate(pattern), new RouteValueDictionary(pattern.Defaults)), methods));
            }
        }

        var routes = new Routes(literal.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase), [.. templates]);
        _routes = routes;

        // Endpoints added later (a dynamic data source) rebuild the table.
        _endpoints.GetChangeToken().RegisterChangeCallback(static u => ((UnpartitionedEndpoints)u!)._routes = null, this);
        return routes;
    }

    private sealed record Routes(FrozenDictionary<string, FrozenSet<string>?> Literal, (TemplateMatcher Matcher, FrozenSet<string>? Methods)[] Templates)
    {
        public bool IsEmpty => Literal.Count == 0 && Templates.Length == 0;
    }
}
