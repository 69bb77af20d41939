using System.Globalization;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;
using PartitionedHosting.Configuration;

namespace PartitionedHosting.Dispatch;

/// <summary>The answers the partition runtime gives instead of running a request.</summary>
internal static class PartitionResponses
{
    private static readonly string s_retryAfter = PartitionedHostingDefaults.RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);

    /// <summary>503 with <c>Retry-After</c>: the partition cannot take the request now.</summary>
    /// <summary>The header of a 421 that names the node owning the request's key.</summary>
    public const string OwnerHeader = "X-Partition-Owner";

    public static Task ServiceUnavailable(HttpContext context)
    {
        var response = context.Response;
        if (!response.HasStarted)
        {
            response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            response.Headers[HeaderNames.RetryAfter] = s_retryAfter;
            response.Headers.CacheControl = "no-store";
        }

        return Task.CompletedTask;
    }

    /// <summary>400: the request of a keyed endpoint carries no usable partition key.</summary>
    public static Task BadRequest(HttpContext context, string problem)
    {
        context.Response.StatusCode = StatusCodes.Status400BadRequest;
        context.Response.ContentType = "text/plain; charset=utf-8";
        return context.Response.WriteAsync(problem);
    }
}
