using System.Collections.Immutable;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace PartitionedHosting.Analyzers;

/// <summary>
/// PH0006: <c>WithPartitionKey("name")</c> (or with <c>PartitionKeySource.Route</c>) on an endpoint mapped with a
/// constant route pattern that has no parameter of that name.
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
        if (extensions is null)
        {
            return;
        }

        start.RegisterOperationAction(
            operation =>
            {
                var invocation = (IInvocationOperation)operation.Operation;
                if (invocation.TargetMethod.Name != "WithPartitionKey" ||
                    !SymbolEqualityComparer.Default.Equals(invocation.TargetMethod.ContainingType, extensions) ||
                    Key(invocation) is not { } key ||
                    Pattern(invocation.Arguments[0].Value) is not { } pattern)
                {
                    return;
                }

                var names = s_parameter.Matches(pattern).Cast<Match>().Select(m => m.Groups["name"].Value.Trim());
                if (!names.Any(name => string.Equals(name, (string)key.ConstantValue.Value!, StringComparison.OrdinalIgnoreCase)))
                {
                    operation.ReportDiagnostic(Diagnostic.Create(PartitionDiagnostics.UnknownRouteKey, key.Syntax.GetLocation(), key.ConstantValue.Value, pattern));
                }
            },
            OperationKind.Invocation);
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
}
