using System.Collections.Immutable;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace PartitionedHosting.Analyzers;

/// <summary>
/// PH0006: an endpoint keyed on a route value its route pattern does not have: <c>WithPartitionKey("name")</c> (or with
/// <c>PartitionKeySource.Route</c>) on an endpoint mapped with a constant pattern, <c>[PartitionKey("name")]</c> on a
/// route handler mapped so, or on a controller action (or controller) whose attribute routes all lack it. PH0007: an
/// endpoint keyed on a header or query value named as one of its route parameters.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class RouteKeyAnalyzer : PartitionAnalyzer
{
    // PartitionKeySource's values.
    private const int RouteSource = 0;
    private const int HeaderSource = 1;
    private const int QuerySource = 2;

    // A route parameter's name: after '{' and an optional '*' or '**', up to a constraint, a default or '?'.
    private static readonly Regex s_parameter = new(@"\{\*{0,2}(?<name>[^{}:=?*]+)", RegexOptions.CultureInvariant);

    /// <inheritdoc />
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } = [PartitionDiagnostics.UnknownRouteKey, PartitionDiagnostics.RouteValueReadElsewhere];

    /// <inheritdoc />
    private protected override void OnCompilationStart(CompilationStartAnalysisContext start)
    {
        var extensions = start.Compilation.GetTypeByMetadataName("Microsoft.AspNetCore.Builder.PartitionKeyEndpointConventionBuilderExtensions");
        var attribute = start.Compilation.GetTypeByMetadataName("PartitionedHosting.PartitionKeyAttribute");
        if (extensions is null || attribute is null)
        {
            return;
        }

        var routeTemplate = start.Compilation.GetTypeByMetadataName("Microsoft.AspNetCore.Mvc.Routing.IRouteTemplateProvider");
        start.RegisterOperationAction(
            operation =>
            {
                var invocation = (IInvocationOperation)operation.Operation;
                if (invocation.TargetMethod.Name == "WithPartitionKey" &&
                    SymbolEqualityComparer.Default.Equals(invocation.TargetMethod.ContainingType, extensions) &&
                    Key(invocation) is { } key &&
                    Pattern(invocation.Arguments[0].Value) is { } pattern)
                {
                    Check(operation.ReportDiagnostic, key, [pattern]);
                }
            },
            OperationKind.Invocation);

        // [PartitionKey("name")] on a route handler: the pattern of the Map* call it is given to.
        start.RegisterOperationAction(
            operation =>
            {
                var function = (IAnonymousFunctionOperation)operation.Operation;
                if (DeclaredKey(function.Symbol, attribute) is { } key && MappedPattern(function) is { } pattern)
                {
                    Check(operation.ReportDiagnostic, key, [pattern]);
                }
            },
            OperationKind.AnonymousFunction);

        // [PartitionKey("name")] on a controller action, or on a controller for each of its actions: the attribute routes.
        if (routeTemplate is not null)
        {
            start.RegisterSymbolAction(
                symbol =>
                {
                    var type = (INamedTypeSymbol)symbol.Symbol;
                    var typeKey = DeclaredKey(type, attribute);
                    // [Route] on a controller is inherited: the nearest class that has one gives the prefixes.
                    var prefixes = new List<string>();
                    for (var current = type; current is not null && prefixes.Count == 0; current = current.BaseType)
                    {
                        prefixes = Templates(current, routeTemplate);
                    }

                    var reportedTypeKey = false;
                    foreach (var action in type.GetMembers().OfType<IMethodSymbol>())
                    {
                        if (action is not { MethodKind: MethodKind.Ordinary, DeclaredAccessibility: Accessibility.Public, IsStatic: false, IsOverride: false } ||
                            action.GetAttributes().Any(a => a.AttributeClass?.Name == "NonActionAttribute") ||
                            Routes(prefixes, Templates(action, routeTemplate)) is not { Count: > 0 } routes)
                        {
                            continue;
                        }

                        if (DeclaredKey(action, attribute) is { } key)
                        {
                            Check(symbol.ReportDiagnostic, key, routes);
                        }
                        else if (typeKey is { } shared && !reportedTypeKey)
                        {
                            // The controller's key, once: at the first action whose routes lack it.
                            Check(
                                diagnostic =>
                                {
                                    reportedTypeKey = true;
                                    symbol.ReportDiagnostic(diagnostic);
                                },
                                shared,
                                routes);
                        }
                    }
                },
                SymbolKind.NamedType);
        }
    }

    /// <summary>
    /// PH0006 for a route key none of the patterns has; PH0007 for a header or query key that is a parameter of one of
    /// them (the key is in the path, where a header or the query string will not have it).
    /// </summary>
    private static void Check(Action<Diagnostic> report, DeclaredPartitionKey key, IReadOnlyList<string> patterns)
    {
        var inPattern = patterns.Any(pattern => s_parameter.Matches(pattern).Cast<Match>().Any(m => string.Equals(m.Groups["name"].Value.Trim(), key.Name, StringComparison.OrdinalIgnoreCase)));
        var shown = string.Join("', '", patterns);
        if (key.Source == RouteSource && !inPattern)
        {
            report(Diagnostic.Create(PartitionDiagnostics.UnknownRouteKey, key.Location, key.Name, shown));
        }
        else if (key.Source is HeaderSource or QuerySource && inPattern)
        {
            report(Diagnostic.Create(PartitionDiagnostics.RouteValueReadElsewhere, key.Location, key.Name, key.Source == HeaderSource ? "a request header" : "the query string", shown));
        }
    }

    /// <summary>The key <c>WithPartitionKey</c> declares with constant arguments, if any.</summary>
    private static DeclaredPartitionKey? Key(IInvocationOperation invocation)
    {
        var arguments = invocation.Arguments;
        if (arguments.Length == 2)
        {
            return arguments[1].Value is { ConstantValue: { HasValue: true, Value: string name } } value
                ? new DeclaredPartitionKey(RouteSource, name, value.Syntax.GetLocation())
                : null;
        }

        // WithPartitionKey(source, name).
        return arguments.Length == 3 && arguments[1].Value.ConstantValue is { HasValue: true, Value: int source } &&
            arguments[2].Value is { ConstantValue: { HasValue: true, Value: string keyName } } named
            ? new DeclaredPartitionKey(source, keyName, named.Syntax.GetLocation())
            : null;
    }

    /// <summary>The key a <c>[PartitionKey]</c> on <paramref name="symbol"/> declares, and where to report it.</summary>
    private static DeclaredPartitionKey? DeclaredKey(ISymbol symbol, INamedTypeSymbol attribute)
    {
        var applied = symbol.GetAttributes().FirstOrDefault(a => SymbolEqualityComparer.Default.Equals(a.AttributeClass, attribute));
        if (applied is null)
        {
            return null;
        }

        var arguments = applied.ConstructorArguments;
        var (source, name) = arguments.Length switch
        {
            1 => (RouteSource, arguments[0].Value as string),
            2 when arguments[0].Value is int declared => (declared, arguments[1].Value as string),
            _ => (RouteSource, null),
        };
        if (name is null)
        {
            return null;
        }

        var syntax = applied.ApplicationSyntaxReference?.GetSyntax() as AttributeSyntax;
        var location = syntax?.ArgumentList?.Arguments.LastOrDefault()?.GetLocation() ?? syntax?.GetLocation() ?? Location.None;
        return new DeclaredPartitionKey(source, name, location);
    }

    /// <summary>The constant pattern of the Map* call a route handler is given to, if any.</summary>
    private static string? MappedPattern(IAnonymousFunctionOperation function)
    {
        var parent = function.Parent;
        while (parent is IDelegateCreationOperation or IConversionOperation)
        {
            parent = parent.Parent;
        }

        return parent is IArgumentOperation { Parent: IInvocationOperation map } ? Pattern(map) : null;
    }

    /// <summary>The constant pattern of the Map* call whose builder is keyed, if any.</summary>
    private static string? Pattern(IOperation builder)
    {
        while (builder is IConversionOperation conversion)
        {
            builder = conversion.Operand;
        }

        // An endpoint of a route group (MapGroup) also has the group prefix's parameters, which this pattern does not show.
        return builder is IInvocationOperation map && map.TargetMethod.Name.StartsWith("Map", StringComparison.Ordinal) &&
            !(map.Arguments.FirstOrDefault()?.Value is { } receiver && IsRouteGroup(receiver)) &&
            map.Arguments.FirstOrDefault(a => a.Parameter?.Name == "pattern")?.Value.ConstantValue is { HasValue: true, Value: string pattern }
            ? pattern
            : null;
    }

    private static bool IsRouteGroup(IOperation receiver)
    {
        while (receiver is IConversionOperation conversion)
        {
            receiver = conversion.Operand;
        }

        return receiver.Type is { Name: "RouteGroupBuilder" };
    }

    /// <summary>
    /// The templates of the attribute routes on <paramref name="symbol"/> (<c>[Route]</c>, <c>[HttpGet("...")]</c>: any
    /// <c>IRouteTemplateProvider</c>); an attribute without a template counts as an empty one.
    /// </summary>
    private static List<string> Templates(ISymbol symbol, INamedTypeSymbol routeTemplate) =>
        symbol.GetAttributes()
            .Where(a => a.AttributeClass is { } type && type.AllInterfaces.Contains(routeTemplate, SymbolEqualityComparer.Default))
            .Select(a => a.ConstructorArguments.FirstOrDefault(c => c.Value is string).Value as string ?? "")
            .ToList();

    /// <summary>
    /// An action's routes: each controller prefix with each of its own templates (one starting with <c>/</c> or
    /// <c>~/</c> overrides the prefix). None when the action has no attribute route: conventional routing, not known.
    /// </summary>
    private static List<string>? Routes(List<string> prefixes, List<string> templates)
    {
        if (templates.Count == 0 && prefixes.Count == 0)
        {
            return null;
        }

        if (templates.Count == 0)
        {
            return prefixes;
        }

        return prefixes.Count == 0
            ? templates
            : [.. templates.SelectMany(t => t.StartsWith("/", StringComparison.Ordinal) || t.StartsWith("~/", StringComparison.Ordinal) ? [t] : prefixes.Select(p => p + "/" + t))];
    }

    // netstandard2.0: a class, not a record.
    private sealed class DeclaredPartitionKey(int source, string name, Location location)
    {
        public int Source { get; } = source;

        public string Name { get; } = name;

        public Location Location { get; } = location;
    }
}
