using System.Collections.Concurrent;
using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace PartitionedHosting.Analyzers;

/// <summary>
/// PH0002: <c>await x.ConfigureAwait(false)</c> in request code, followed in the same body by a use of a partition-local
/// service: a type registered on <c>IPartitionBuilder.Services</c> anywhere in the compilation. Reported when the
/// compilation ends, once every registration is known.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class ConfigureAwaitAnalyzer : PartitionAnalyzer
{
    /// <inheritdoc />
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } = [PartitionDiagnostics.ConfigureAwaitFalse];

    /// <inheritdoc />
    private protected override void OnCompilationStart(CompilationStartAnalysisContext start)
    {
        var partitionBuilder = start.Compilation.GetTypeByMetadataName("PartitionedHosting.IPartitionBuilder");
        if (partitionBuilder is null || RequestCode.For(start.Compilation) is not { } requestCode)
        {
            return;
        }

        var partitionLocal = new ConcurrentDictionary<ITypeSymbol, bool>(SymbolEqualityComparer.Default);
        var candidates = new ConcurrentBag<(Location Location, ImmutableArray<ITypeSymbol> UsedAfter)>();

        start.RegisterOperationAction(
            operation =>
            {
                var invocation = (IInvocationOperation)operation.Operation;
                if (invocation.TargetMethod.IsExtensionMethod && invocation.Arguments.Length > 0 &&
                    PartitionLocalRegistrationAnalyzer.IsPartitionServices(invocation.Arguments[0].Value, partitionBuilder))
                {
                    foreach (var type in RegisteredTypes(invocation))
                    {
                        partitionLocal.TryAdd(type, true);
                    }
                }
            },
            OperationKind.Invocation);

        start.RegisterOperationAction(
            operation =>
            {
                var awaited = (IAwaitOperation)operation.Operation;
                if (awaited.Operation is IInvocationOperation { TargetMethod.Name: "ConfigureAwait" } configure &&
                    configure.Arguments.Length == 1 && configure.Arguments[0].Value.ConstantValue is { HasValue: true, Value: false } &&
                    requestCode.Contains(awaited) && Body(awaited) is { } body)
                {
                    var after = awaited.Syntax.Span.End;
                    var used = body.Descendants()
                        .Where(o => o.Syntax.SpanStart >= after && o is ILocalReferenceOperation or IParameterReferenceOperation or IFieldReferenceOperation or IPropertyReferenceOperation or IInvocationOperation)
                        .Select(o => o.Type)
                        .Where(t => t is not null)
                        .Distinct(SymbolEqualityComparer.Default)
                        .Cast<ITypeSymbol>()
                        .ToImmutableArray();
                    candidates.Add((configure.Syntax.GetLocation(), used));
                }
            },
            OperationKind.Await);

        start.RegisterCompilationEndAction(end =>
        {
            foreach (var (location, usedAfter) in candidates)
            {
                if (usedAfter.FirstOrDefault(partitionLocal.ContainsKey) is { } type)
                {
                    end.ReportDiagnostic(Diagnostic.Create(PartitionDiagnostics.ConfigureAwaitFalse, location, type.Name));
                }
            }
        });
    }

    /// <summary>The service and implementation types a registration names (type arguments, <c>typeof</c>, a factory's result).</summary>
    private static IEnumerable<ITypeSymbol> RegisteredTypes(IInvocationOperation invocation)
    {
        foreach (var typeArgument in invocation.TargetMethod.TypeArguments)
        {
            yield return typeArgument;
        }

        foreach (var argument in invocation.Arguments.Skip(1))
        {
            if (argument.Value is ITypeOfOperation { TypeOperand: { } type })
            {
                yield return type;
            }
        }
    }

    /// <summary>The body (method, local function or lambda) the await is in.</summary>
    private static IOperation? Body(IOperation operation)
    {
        var model = operation.SemanticModel!;
        for (var node = operation.Syntax.Parent; node is not null; node = node.Parent)
        {
            if (node is AnonymousFunctionExpressionSyntax or LocalFunctionStatementSyntax or BaseMethodDeclarationSyntax)
            {
                return model.GetOperation(node);
            }
        }

        return null;
    }
}
