using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using PartitionedHosting;
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
    /// connections, requests, queue, rejections, recycles and the last cause, the longest recent turn, and the key map;
    /// a browser (which asks for <c>text/html</c>) gets a dashboard page instead, which shows the same live, refreshed
    /// every second. It runs outside the partitions (it answers while they are stalled or full), and it is closed until
    /// told who may read it: with <paramref name="authorizationPolicy"/>,
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
        var builder = endpoints.MapGet(pattern, (HttpContext context, IPartitionManager partitions, string? slots) =>
            {
                // One URL, two forms: a cache must not give one to a client that asked for the other.
                context.Response.Headers.Vary = Microsoft.Net.Http.Headers.HeaderNames.Accept;
                return PartitionDashboard.IsWanted(context.Request) ? PartitionDashboard.Page : Results.Json(Describe(partitions, slots == "all"), s_json);
            })
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

    /// <summary>
    /// Every partition's snapshot, and the key map: its version, how many slots each partition owns, the slots moved
    /// by hand, and, with <c>?slots=all</c>, every slot's owner as ranges of consecutive slots.
    /// </summary>
    private static object Describe(IPartitionManager partitions, bool allSlots)
    {
        var snapshots = partitions.GetSnapshots();
        var map = partitions.KeyMap;
        var owned = new Dictionary<int, int>();
        foreach (var range in map.Ranges)
        {
            owned[range.Partition] = owned.GetValueOrDefault(range.Partition) + (range.End - range.Start + 1);
        }

        return new
        {
            partitions = snapshots,
            keyMap = new
            {
                version = map.Version,
                slotCount = map.SlotCount,
                slotsByPartition = snapshots.Select(p => new { partition = p.Id, slots = owned.GetValueOrDefault(p.Id) }),
                movedByHand = map.MovedByHand.Select(slot => new { slot, partition = map.GetOwner(slot) }),
                ranges = allSlots ? map.Ranges.Select(r => new[] { r.Start, r.End, r.Partition }) : null,
            },
            cluster = partitions is PartitionRuntime { Cluster: { } cluster } runtime
                ? new
                {
                    nodes = cluster.Nodes.Select((node, i) => new { node, slots = cluster.CountSlots(i), self = i == runtime.SelfNode }),
                    misdirected = runtime.Metrics.MisdirectedCount,
                }
                : null,
        };
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
