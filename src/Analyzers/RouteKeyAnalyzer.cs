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
/// route handler mapped so, or on a controller action (or controller) whose attribute routes all lack it.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class RouteKeyAnalyzer : PartitionAnalyzer
{
    // A route parameter's name: after '{' and an optional '*' or '**', up to a constraint, a default or '?'.
    private static readonly Regex s_parameter = new(@"\{\*{0,2}(?<name>[^{}:=?*]+)", RegexOptions.CultureInvariant);

    /// <inheritdoc />
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } = [PartitionDiagnostics.UnknownRouteKey];

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
                    Check(operation.ReportDiagnostic, (string)key.ConstantValue.Value!, key.Syntax.GetLocation(), [pattern]);
                }
            },
            OperationKind.Invocation);

        // [PartitionKey("name")] on a route handler: the pattern of the Map* call it is given to.
        start.RegisterOperationAction(
            operation =>
            {
                var function = (IAnonymousFunctionOperation)operation.Operation;
                if (RouteKey(function.Symbol, attribute) is { } key && MappedPattern(function) is { } pattern)
                {
                    Check(operation.ReportDiagnostic, key.Name, key.Location, [pattern]);
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
                    var typeKey = RouteKey(type, attribute);
                    var prefixes = Templates(type, routeTemplate);
                    var reportedTypeKey = false;
                    foreach (var action in type.GetMembers().OfType<IMethodSymbol>())
                    {
                        if (action is not { MethodKind: MethodKind.Ordinary, DeclaredAccessibility: Accessibility.Public, IsStatic: false } ||
                            Routes(prefixes, Templates(action, routeTemplate)) is not { Count: > 0 } routes)
                        {
                            continue;
                        }

                        if (RouteKey(action, attribute) is { } key)
                        {
                            Check(symbol.ReportDiagnostic, key.Name, key.Location, routes);
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
                                shared.Name,
                                shared.Location,
                                routes);
                        }
                    }
                },
                SymbolKind.NamedType);
        }
    }

    private static void Check(Action<Diagnostic> report, string key, Location location, IReadOnlyList<string> patterns)
    {
        if (!patterns.Any(pattern => s_parameter.Matches(pattern).Cast<Match>().Any(m => string.Equals(m.Groups["name"].Value.Trim(), key, StringComparison.OrdinalIgnoreCase))))
        {
            report(Diagnostic.Create(PartitionDiagnostics.UnknownRouteKey, location, key, string.Join("', '", patterns)));
        }
    }

    /// <summary>The constant route value name the endpoint is keyed on, if it is keyed on a route value.</summary>
    private static IOperation? Key(IInvocationOperation invocation)
    {
        var arguments = invocation.Arguments;
        if (arguments.Length == 2)
        {
            return arguments[1].Value is { ConstantValue: { HasValue: true, Value: string } } name ? name : null;
        }

        // WithPartitionKey(source, name): PartitionKeySource.Route is 0.
        return arguments.Length == 3 && arguments[1].Value.ConstantValue is { HasValue: true, Value: 0 } &&
            arguments[2].Value is { ConstantValue: { HasValue: true, Value: string } } routeName ? routeName : null;
    }

    /// <summary>The route value a <c>[PartitionKey]</c> on <paramref name="symbol"/> names, and where to report it.</summary>
    private static (string Name, Location Location)? RouteKey(ISymbol symbol, INamedTypeSymbol attribute)
    {
        var applied = symbol.GetAttributes().FirstOrDefault(a => SymbolEqualityComparer.Default.Equals(a.AttributeClass, attribute));
        if (applied is null)
        {
            return null;
        }

        var arguments = applied.ConstructorArguments;
        var name = arguments.Length switch
        {
            1 => arguments[0].Value as string,
            2 when arguments[0].Value is 0 => arguments[1].Value as string,
            _ => null,
        };
        if (name is null)
        {
            return null;
        }

        var syntax = applied.ApplicationSyntaxReference?.GetSyntax() as AttributeSyntax;
        var location = syntax?.ArgumentList?.Arguments.LastOrDefault()?.GetLocation() ?? syntax?.GetLocation() ?? Location.None;
        return (name, location);
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
}
