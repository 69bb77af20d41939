using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using PartitionedHosting.Diagnostics;
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
    /// connections, requests, queue, last recycle and its cause. It runs outside the partitions (it answers while they
    /// are stalled or full), and it is closed until told who may read it: with <paramref name="authorizationPolicy"/>,
    /// or with <c>RequireAuthorization</c>, <see cref="PartitionDiagnosticsEndpointConventionBuilderExtensions.RequireManagementPort"/>
    /// or <see cref="PartitionDiagnosticsEndpointConventionBuilderExtensions.RequireLoopback"/> on the returned builder.
    /// Until then every request gets 403.
    /// </summary>
    /// <param name="endpoints">The endpoint route builder.</param>
    /// <param name="pattern">The route pattern.</param>
    /// <param name="authorizationPolicy">An authorization policy readers must satisfy.</param>
    /// <returns>The endpoint's convention builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="endpoints"/> is <see langword="null"/>.</exception>
    public static RouteHandlerBuilder MapPartitionDiagnostics(this IEndpointRouteBuilder endpoints, string pattern = "/_partitions", string? authorizationPolicy = null)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        var builder = endpoints.MapGet(pattern, (IPartitionManager partitions) => Results.Json(new { partitions = partitions.GetSnapshots() }, s_json))
            .ExcludeFromDescription()
            .WithoutPartition()
            .AddEndpointFilter(static (context, next) => IsAllowed(context.HttpContext)
                ? next(context)
                : ValueTask.FromResult<object?>(Results.Problem(
                    "The partition diagnostics endpoint is closed: give it an authorization policy (RequireAuthorization), a management port (RequireManagementPort) or, without a reverse proxy on the same host, RequireLoopback().",
                    statusCode: StatusCodes.Status403Forbidden)));
        if (authorizationPolicy is not null)
        {
            builder.RequireAuthorization(authorizationPolicy);
        }

        return builder;
    }

    private static bool IsAllowed(HttpContext context)
    {
        var metadata = context.GetEndpoint()?.Metadata;
        if (metadata is null)
        {
            return false;
        }

        // The authorization middleware has already checked the policy.
        if (metadata.GetMetadata<IAuthorizeData>() is not null)
        {
            return true;
        }

        return metadata.GetMetadata<PartitionDiagnosticsAccess>() switch
        {
            { ManagementPort: { } port } => context.Connection.LocalPort == port,
            { Loopback: true } => context.Connection.RemoteIpAddress is { } address && IPAddress.IsLoopback(address),
            _ => false,
        };
    }
}
