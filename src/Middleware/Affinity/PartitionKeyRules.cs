using System.Diagnostics.CodeAnalysis;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Patterns;
using Microsoft.AspNetCore.Routing.Template;
using PartitionedHosting.Affinity;

namespace PartitionedHosting;

/// <summary>
/// Reads a request's partition key by the rules of configuration (<c>PartitionedHosting:Keys</c>), without the
/// application's endpoints: what a proxy in front of the nodes uses to route a key to its owner, reading it exactly as
/// the node does for its endpoints keyed by the same rules.
/// </summary>
public sealed class PartitionKeyRules
{
    private readonly Rule[] _rules;

    /// <summary>Builds the rules, in order: the first whose pattern matches the request's path decides.</summary>
    /// <param name="keys">The keys, as configured.</param>
    public PartitionKeyRules(IEnumerable<PartitionKeyOptions> keys)
    {
        ArgumentNullException.ThrowIfNull(keys);
        _rules = [.. keys.Select(k =>
        {
            var pattern = RoutePatternFactory.Parse(k.Pattern);
            return new Rule(new TemplateMatcher(new RouteTemplate(pattern), new RouteValueDictionary(pattern.Defaults)), new PartitionKeyAttribute(k.Source, k.Name));
        })];
    }

    /// <summary>Whether any rule exists.</summary>
    public bool IsEmpty => _rules.Length == 0;

    /// <summary>
    /// The request's key by the first rule whose pattern matches its path; false when none matches, or when the
    /// matching rule finds no single usable key (missing, or several values).
    /// </summary>
    /// <param name="context">The request.</param>
    /// <param name="key">The key.</param>
    /// <returns>Whether the request is keyed and its key was found.</returns>
    public bool TryGetKey(HttpContext context, [NotNullWhen(true)] out string? key)
    {
        ArgumentNullException.ThrowIfNull(context);
        RouteValueDictionary? values = null;
        foreach (var rule in _rules)
        {
            values ??= [];
            values.Clear();
            if (!rule.Matcher.TryMatch(context.Request.Path, values))
            {
                continue;
            }

            key = PartitionKeyReader.ReadMatched(context, rule.Key, values);
            return key is not null;
        }

        key = null;
        return false;
    }

    private sealed record Rule(TemplateMatcher Matcher, IPartitionKeyMetadata Key);
}
