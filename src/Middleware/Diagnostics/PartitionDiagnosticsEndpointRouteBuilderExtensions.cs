using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using PartitionedHosting.Partitions;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Maps the partitions' diagnostics endpoint.</summary>
public static class PartitionDiagnosticsEndpointRouteBuilderExtensions
{
    private static readonly JsonSerializerOptions s_json = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter() },
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>
    /// Maps <c>GET <paramref name="pattern"/></c> to JSON describing each partition: mode, state, generation,
    /// connections, requests, queue, last recycle and its cause. It is not mapped unless asked for. Without
    /// <paramref name="authorizationPolicy"/> it answers loopback clients only (403 for others); with one, it requires
    /// that policy instead.
    /// </summary>
    /// <param name="endpoints">The endpoint route builder.</param>
    /// <param name="pattern">The route pattern.</param>
    /// <param name="authorizationPolicy">An authorization policy to require instead of the loopback restriction.</param>
    /// <returns>The endpoint's convention builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="endpoints"/> is <see langword="null"/>.</exception>
    public static RouteHandlerBuilder MapPartitionDiagnostics(this IEndpointRouteBuilder endpoints, string pattern = "/_partitions", string? authorizationPolicy = null)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        var builder = endpoints.MapGet(pattern, (IPartitionManager partitions) => Results.Json(new { partitions = partitions.GetSnapshots() }, s_json))
            .ExcludeFromDescription();
        if (authorizationPolicy is null)
        {
            builder.AddEndpointFilter(static (context, next) =>
                context.HttpContext.Connection.RemoteIpAddress is { } address && IPAddress.IsLoopback(address)
                    ? next(context)
                    : ValueTask.FromResult<object?>(Results.StatusCode(StatusCodes.Status403Forbidden)));
        }
        else
        {
            builder.RequireAuthorization(authorizationPolicy);
        }

        return builder;
    }
}
