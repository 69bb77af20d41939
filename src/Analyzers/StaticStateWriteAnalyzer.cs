using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace PartitionedHosting.Analyzers;

/// <summary>
/// PH0004: request code that writes a static field or property (assigned, incremented, passed by <c>ref</c> or
/// <c>out</c>, as to <c>Interlocked.Increment</c>): state every partition of the process shares.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class StaticStateWriteAnalyzer : PartitionAnalyzer
{
    /// <inheritdoc />
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } = [PartitionDiagnostics.StaticStateWrite, PartitionDiagnostics.StaticStateWriteInMethod];

    /// <inheritdoc />
    private protected override void OnCompilationStart(CompilationStartAnalysisContext start)
    {
        if (RequestCodeReporter.Start(start) is not { } requestCode)
        {
            return;
        }

        var threadStatic = start.Compilation.GetTypeByMetadataName("System.ThreadStaticAttribute");
        start.RegisterOperationAction(
            operation =>
            {
                var target = operation.Operation switch
                {
                    IAssignmentOperation assignment => assignment.Target,
                    IIncrementOrDecrementOperation increment => increment.Target,
                    IArgumentOperation { Parameter.RefKind: RefKind.Ref or RefKind.Out } argument => argument.Value,
                    _ => null,
                };
                if (StaticMember(target, threadStatic) is { } member)
                {
                    requestCode.Report(
                        operation,
                        operation.Operation,
                        PartitionDiagnostics.StaticStateWrite,
                        PartitionDiagnostics.StaticStateWriteInMethod,
                        target!.Syntax.GetLocation(),
                        member.ContainingType.Name + "." + member.Name);
                }
            },
            OperationKind.SimpleAssignment,
            OperationKind.CompoundAssignment,
            OperationKind.CoalesceAssignment,
            OperationKind.Increment,
            OperationKind.Decrement,
            OperationKind.Argument);
    }

    // Only statics declared in the compilation's own source: the framework's static setters are ambient per request or
    // thread (CultureInfo.CurrentCulture, Activity.Current) or synchronized, and not the application's state.
    private static ISymbol? StaticMember(IOperation? target, INamedTypeSymbol? threadStatic) => target switch
    {
        IFieldReferenceOperation { Field: { IsStatic: true, IsConst: false, IsReadOnly: false } field }
            when field.Locations.Any(l => l.IsInSource) && !field.GetAttributes().Any(a => SymbolEqualityComparer.Default.Equals(a.AttributeClass, threadStatic)) => field,
        IPropertyReferenceOperation { Property: { IsStatic: true } property } when property.Locations.Any(l => l.IsInSource) => property,
        _ => null,
    };
}
