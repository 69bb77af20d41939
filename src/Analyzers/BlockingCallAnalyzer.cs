using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace PartitionedHosting.Analyzers;

/// <summary>
/// PH0001: a blocking wait in request code: <c>.Result</c>, <c>.Wait()</c>, <c>GetAwaiter().GetResult()</c> of a task,
/// <c>Task.WaitAll</c>/<c>WaitAny</c>, <c>Thread.Sleep</c>.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class BlockingCallAnalyzer : PartitionAnalyzer
{
    /// <inheritdoc />
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } = [PartitionDiagnostics.BlockingCall, PartitionDiagnostics.BlockingCallInMethod];

    /// <inheritdoc />
    private protected override void OnCompilationStart(CompilationStartAnalysisContext start)
    {
        if (RequestCodeReporter.Start(start) is not { } requestCode)
        {
            return;
        }

        var compilation = start.Compilation;
        var task = compilation.GetTypeByMetadataName("System.Threading.Tasks.Task");
        var taskOfT = compilation.GetTypeByMetadataName("System.Threading.Tasks.Task`1");
        var valueTaskOfT = compilation.GetTypeByMetadataName("System.Threading.Tasks.ValueTask`1");
        var thread = compilation.GetTypeByMetadataName("System.Threading.Thread");
        var awaiters = new[]
        {
            "System.Runtime.CompilerServices.TaskAwaiter",
            "System.Runtime.CompilerServices.TaskAwaiter`1",
            "System.Runtime.CompilerServices.ValueTaskAwaiter",
            "System.Runtime.CompilerServices.ValueTaskAwaiter`1",
            "System.Runtime.CompilerServices.ConfiguredTaskAwaitable+ConfiguredTaskAwaiter",
            "System.Runtime.CompilerServices.ConfiguredTaskAwaitable`1+ConfiguredTaskAwaiter",
            "System.Runtime.CompilerServices.ConfiguredValueTaskAwaitable+ConfiguredValueTaskAwaiter",
            "System.Runtime.CompilerServices.ConfiguredValueTaskAwaitable`1+ConfiguredValueTaskAwaiter",
        }.Select(compilation.GetTypeByMetadataName).Where(t => t is not null).ToImmutableArray();

        bool Is(ITypeSymbol? type, INamedTypeSymbol? expected) =>
            expected is not null && SymbolEqualityComparer.Default.Equals(type?.OriginalDefinition, expected);

        start.RegisterOperationAction(
            operation =>
            {
                var property = (IPropertyReferenceOperation)operation.Operation;
                if (property.Property.Name == "Result" && (Is(property.Property.ContainingType, taskOfT) || Is(property.Property.ContainingType, valueTaskOfT)))
                {
                    Report(operation, requestCode, ".Result");
                }
            },
            OperationKind.PropertyReference);

        start.RegisterOperationAction(
            operation =>
            {
                var invocation = (IInvocationOperation)operation.Operation;
                var method = invocation.TargetMethod;
                var containing = method.ContainingType;
                var blocking = method.Name switch
                {
                    "Wait" when Is(containing, task) || Is(containing, taskOfT) => ".Wait()",
                    "WaitAll" or "WaitAny" when Is(containing, task) => $"Task.{method.Name}",
                    "GetResult" when awaiters.Any(a => Is(containing, a)) => "GetAwaiter().GetResult()",
                    "Sleep" when Is(containing, thread) => "Thread.Sleep",
                    _ => null,
                };
                if (blocking is not null)
                {
                    Report(operation, requestCode, blocking);
                }
            },
            OperationKind.Invocation);
    }

    private static void Report(OperationAnalysisContext context, RequestCodeReporter requestCode, string call) =>
        requestCode.Report(context, context.Operation, PartitionDiagnostics.BlockingCall, PartitionDiagnostics.BlockingCallInMethod, context.Operation.Syntax.GetLocation(), call);
}
