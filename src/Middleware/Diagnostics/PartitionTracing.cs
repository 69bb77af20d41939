using System.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using PartitionedHosting.Partitions;

namespace PartitionedHosting.Diagnostics;

/// <summary>
/// Tags the request's server span (ASP.NET Core's <c>Microsoft.AspNetCore.Hosting.HttpRequestIn</c> activity, which
/// OpenTelemetry's ASP.NET Core instrumentation exports) with where the request ran, so that a trace shows it:
/// <c>partition.id</c> and <c>partition.generation</c> of the partition that served it, <c>partition.key.slot</c> of a
/// keyed request, and, for a request moved to its key's owner, <c>partition.owner.id</c> and
/// <c>partition.owner.generation</c> as well. Costs nothing when nobody listens (no current activity).
/// </summary>
internal static class PartitionTracing
{
    public const string PartitionId = "partition.id";
    public const string Generation = "partition.generation";
    public const string Slot = "partition.key.slot";
    public const string OwnerId = "partition.owner.id";
    public const string OwnerGeneration = "partition.owner.generation";

    public static void Served(HttpContext context, PartitionInstance instance)
    {
        if (Activity.Current is not null && ServerSpan(context) is { } span)
        {
            span.SetTag(PartitionId, instance.Id);
            span.SetTag(Generation, instance.Generation);
        }
    }

    public static void Keyed(HttpContext context, int slot)
    {
        if (Activity.Current is not null && ServerSpan(context) is { } span)
        {
            span.SetTag(Slot, slot);
        }
    }

    public static void Moved(HttpContext context, PartitionInstance owner)
    {
        if (Activity.Current is not null && ServerSpan(context) is { } span)
        {
            span.SetTag(OwnerId, owner.Id);
            span.SetTag(OwnerGeneration, owner.Generation);
        }
    }

    private static Activity? ServerSpan(HttpContext context) =>
        context.Features.Get<IHttpActivityFeature>()?.Activity is { IsAllDataRequested: true } activity ? activity : null;
}
