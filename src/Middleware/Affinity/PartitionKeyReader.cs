using System.Globalization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Primitives;

namespace PartitionedHosting.Affinity;

/// <summary>Reads a request's partition key as its endpoint declares it.</summary>
internal static class PartitionKeyReader
{
    private static readonly PartitionKeyResult s_missing = new(PartitionKeyStatus.Missing, null);
    private static readonly PartitionKeyResult s_unreadable = new(PartitionKeyStatus.Unreadable, null);

    public static PartitionKeyResult Read(HttpContext context, IPartitionKeyMetadata key) => key.Source switch
    {
        PartitionKeySource.Route => context.Request.RouteValues.TryGetValue(key.Name, out var value) &&
            Convert.ToString(value, CultureInfo.InvariantCulture) is { Length: > 0 } text
                ? new PartitionKeyResult(PartitionKeyStatus.Found, text)
                : s_missing,
        PartitionKeySource.Header => FromHeader(context.Request.Headers[key.Name]),
        PartitionKeySource.Query => FromValues(context.Request.Query[key.Name]),
        PartitionKeySource.Claim => FromValues(new StringValues([.. context.User.FindAll(key.Name).Select(c => c.Value)])),
        _ => s_unreadable,
    };

    /// <summary>
    /// The key of a request whose path matched a keyed template before routing: a route key from the template's
    /// <paramref name="values"/>, any other from the request; <see langword="null"/> when missing or unusable.
    /// </summary>
    public static string? ReadMatched(HttpContext context, IPartitionKeyMetadata key, RouteValueDictionary values)
    {
        var found = key.Source == PartitionKeySource.Route
            ? (values.TryGetValue(key.Name, out var value) ? Convert.ToString(value, CultureInfo.InvariantCulture) : null)
            : Read(context, key) is { Status: PartitionKeyStatus.Found, Key: var read } ? read : null;
        return string.IsNullOrEmpty(found) ? null : found;
    }

    // A header sent on several lines and one sent as a comma-separated list are the same thing (RFC 9110, 5.3):
    // either way there is more than one key.
    private static PartitionKeyResult FromHeader(StringValues values) =>
        values.Count == 1 && values[0]!.Contains(',', StringComparison.Ordinal) ? s_unreadable : FromValues(values);

    private static PartitionKeyResult FromValues(StringValues values) => values.Count switch
    {
        0 => s_missing,
        1 => string.IsNullOrEmpty(values[0]) ? s_missing : new PartitionKeyResult(PartitionKeyStatus.Found, values[0]),
        _ => s_unreadable,
    };
}
