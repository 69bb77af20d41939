using System.Collections.Concurrent;
using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace PartitionedHosting.Analyzers;

/// <summary>
/// Partition-local services used off the partition's thread, the compile-time half of the escape detector:
/// PH0002, <c>await x.ConfigureAwait(false)</c> in request code followed in the same body by a use of a partition-local
/// service; PH0003, a partition-local service captured by a delegate that runs on the thread pool, a thread or a timer,
/// from request code or from a partition-local service's own code. A partition-local service is a type registered on
/// <c>IPartitionBuilder.Services</c> anywhere in the compilation, so both are reported when the compilation ends.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class PartitionLocalEscapeAnalyzer : PartitionAnalyzer
{
    /// <inheritdoc />
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } =
        [PartitionDiagnostics.ConfigureAwaitFalse, PartitionDiagnostics.CapturedByWorkElsewhere];

    /// <inheritdoc />
    private protected override void OnCompilationStart(CompilationStartAnalysisContext start)
    {
        if (RequestCodeReporter.Start(start) is not { PartitionLocal: { } partitionLocal } reporter)
        {
            return;
        }

        var requestCode = reporter.RequestCode;
        var awaits = new ConcurrentBag<(Location Location, ImmutableArray<ITypeSymbol> UsedAfter, CodeLocation Where)>();
        var captures = new ConcurrentBag<Capture>();

        start.RegisterOperationAction(
            operation =>
            {
                var awaited = (IAwaitOperation)operation.Operation;
                if (awaited.Operation is IInvocationOperation { TargetMethod.Name: "ConfigureAwait" } configure &&
                    configure.Arguments.Length == 1 && LeavesContext(configure.Arguments[0].Value) &&
                    requestCode.Locate(awaited) is var where && (where.IsRequestCode || where.Method is not null) &&
                    Body(awaited) is { } body)
                {
                    var after = awaited.Syntax.Span.End;
                    var used = body.Descendants()
                        .Where(o => o.Syntax.SpanStart >= after && o is ILocalReferenceOperation or IParameterReferenceOperation or IFieldReferenceOperation or IPropertyReferenceOperation or IInvocationOperation)
                        .Select(o => o.Type)
                        .Where(t => t is not null)
                        .Distinct(SymbolEqualityComparer.Default)
                        .Cast<ITypeSymbol>()
                        .ToImmutableArray();
                    awaits.Add((configure.Syntax.GetLocation(), used, where));
                }
            },
            OperationKind.Await);

        start.RegisterOperationAction(
            operation =>
            {
                var function = (IAnonymousFunctionOperation)operation.Operation;
                if (!requestCode.RunsElsewhere(function))
                {
                    return;
                }

                var inside = function.Syntax.Span;
                var captured = function.Body.Descendants()
                    .Select(o => o switch
                    {
                        ILocalReferenceOperation local when !Declared(local.Local, inside) => (Operation: o, Name: local.Local.Name, local.Type),
                        IParameterReferenceOperation parameter when !Declared(parameter.Parameter, inside) => (Operation: o, Name: parameter.Parameter.Name, parameter.Type),
                        IFieldReferenceOperation { Instance: IInstanceReferenceOperation { ReferenceKind: InstanceReferenceKind.ContainingTypeInstance } } field => (Operation: o, Name: field.Field.Name, field.Type),
                        IPropertyReferenceOperation { Instance: IInstanceReferenceOperation { ReferenceKind: InstanceReferenceKind.ContainingTypeInstance } } property => (Operation: o, Name: property.Property.Name, property.Type),
                        IInstanceReferenceOperation { ReferenceKind: InstanceReferenceKind.ContainingTypeInstance } self => (Operation: o, Name: "this", self.Type),
                        _ => default,
                    })
                    .Where(c => c.Type is not null)
                    .Select(c => (c.Operation.Syntax.GetLocation(), c.Name, c.Type!))
                    .ToImmutableArray();
                if (captured.Length > 0)
                {
                    captures.Add(new Capture(requestCode.Locate(function), ContainingType(function), captured));
                }
            },
            OperationKind.AnonymousFunction);

        start.RegisterCompilationEndAction(end =>
        {
            foreach (var (location, usedAfter, where) in awaits)
            {
                if (reporter.IsRequestCode(where) && usedAfter.FirstOrDefault(partitionLocal.Contains) is { } type)
                {
                    end.ReportDiagnostic(Diagnostic.Create(PartitionDiagnostics.ConfigureAwaitFalse, location, type.Name));
                }
            }

            foreach (var capture in captures)
            {
                if (!reporter.IsRequestCode(capture.Where) && !partitionLocal.Contains(capture.ContainingType))
                {
                    continue;
                }

                // One report per delegate: the first partition-local thing it captures.
                if (capture.Captured.FirstOrDefault(c => partitionLocal.Contains(c.Type)) is { Type: not null } first)
                {
                    end.ReportDiagnostic(Diagnostic.Create(PartitionDiagnostics.CapturedByWorkElsewhere, first.Location, first.Name, first.Type.Name));
                }
            }
        });
    }

    /// <summary>
    /// <c>ConfigureAwait(false)</c>, or <c>ConfigureAwait(options)</c> without <c>ConfigureAwaitOptions.ContinueOnCapturedContext</c> (1).
    /// </summary>
    private static bool LeavesContext(IOperation argument) => argument.ConstantValue switch
    {
        { HasValue: true, Value: false } => true,
        { HasValue: true, Value: int options } when argument.Type is { Name: "ConfigureAwaitOptions" } => (options & 1) == 0,
        _ => false,
    };

    private static bool Declared(ISymbol symbol, Microsoft.CodeAnalysis.Text.TextSpan inside) =>
        symbol.DeclaringSyntaxReferences.Any(r => inside.Contains(r.Span));

    private static INamedTypeSymbol? ContainingType(IOperation operation) =>
        operation.SemanticModel?.GetEnclosingSymbol(operation.Syntax.SpanStart)?.ContainingType;

    /// <summary>The body (method, local function or lambda) the await is in.</summary>
    private static IOperation? Body(IOperation operation) =>
        RequestCode.EnclosingFunction(operation.Syntax) is { } function and not CompilationUnitSyntax ? operation.SemanticModel!.GetOperation(function) : null;

    // netstandard2.0: a class, not a record.
    private sealed class Capture(CodeLocation where, INamedTypeSymbol? containingType, ImmutableArray<(Location Location, string Name, ITypeSymbol Type)> captured)
    {
        public CodeLocation Where { get; } = where;

        public INamedTypeSymbol? ContainingType { get; } = containingType;

        public ImmutableArray<(Location Location, string Name, ITypeSymbol Type)> Captured { get; } = captured;
    }
}
