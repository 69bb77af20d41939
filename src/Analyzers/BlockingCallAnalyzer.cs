using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
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
                if (property.Property.Name == "Result" && (Is(property.Property.ContainingType, taskOfT) || Is(property.Property.ContainingType, valueTaskOfT)) &&
                    !CompletedBefore(property.Instance, property))
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
                var waited = blocking switch
                {
                    "GetAwaiter().GetResult()" => (invocation.Instance as IInvocationOperation)?.Instance,
                    ".Wait()" => invocation.Instance,
                    _ => null,
                };
                if (blocking is not null && !CompletedBefore(waited, invocation))
                {
                    Report(operation, requestCode, blocking);
                }
            },
            OperationKind.Invocation);
    }

    /// <summary>
    /// Whether <paramref name="task"/> is known complete at <paramref name="at"/>: an earlier <c>await</c> of the same
    /// body awaited it, or <c>Task.WhenAll</c> of it (<c>await Task.WhenAll(a, b); return a.Result + b.Result;</c>),
    /// where the task is a local, a parameter or a field, an element of one, or the parameter of a lambda over one
    /// (<c>tasks.Select(t =&gt; t.Result)</c> after <c>await Task.WhenAll(tasks)</c>).
    /// </summary>
    private static bool CompletedBefore(IOperation? task, IOperation at)
    {
        if (Root(task) is not { } root || at.SemanticModel is not { } model)
        {
            return false;
        }

        var member = at.Syntax.FirstAncestorOrSelf<SyntaxNode>(n => n is BaseMethodDeclarationSyntax or LocalFunctionStatementSyntax or CompilationUnitSyntax);
        return member is not null && member.DescendantNodes()
            .OfType<AwaitExpressionSyntax>()
            .Where(a => a.Span.End <= at.Syntax.SpanStart)
            .Select(a => model.GetOperation(a) as IAwaitOperation)
            .Any(a => a is not null && Completes(a.Operation, root));
    }

    // Whether awaiting 'awaited' completes the task whose root is 'root': the task itself, or Task.WhenAll over it.
    private static bool Completes(IOperation awaited, ISymbol root)
    {
        awaited = Unwrap(awaited);
        if (awaited is IInvocationOperation { TargetMethod.Name: "ConfigureAwait", Instance: { } configured })
        {
            awaited = Unwrap(configured);
        }

        if (awaited is IInvocationOperation { TargetMethod: { Name: "WhenAll", ContainingType.Name: "Task" } } whenAll)
        {
            return whenAll.Arguments.Any(a => a.Value.DescendantsAndSelf().Any(o => SymbolEqualityComparer.Default.Equals(Root(o), root)));
        }

        return SymbolEqualityComparer.Default.Equals(Root(awaited), root);
    }

    /// <summary>The local, parameter or field a task expression reads, through element access and lambda parameters.</summary>
    private static ISymbol? Root(IOperation? operation)
    {
        switch (operation is null ? null : Unwrap(operation))
        {
            case ILocalReferenceOperation local:
                return local.Local;
            case IFieldReferenceOperation field:
                return field.Field;
            case IArrayElementReferenceOperation element:
                return Root(element.ArrayReference);
            case IPropertyReferenceOperation { Property.IsIndexer: true } indexer:
                return Root(indexer.Instance);
            case IParameterReferenceOperation { Parameter.ContainingSymbol: IMethodSymbol { MethodKind: MethodKind.AnonymousFunction } } lambdaParameter:
                // t in tasks.Select(t => t.Result): the sequence the lambda is given with.
                var parent = lambdaParameter.Parameter.ContainingSymbol.DeclaringSyntaxReferences.FirstOrDefault() is { } syntax
                    ? operation!.SemanticModel?.GetOperation(syntax.GetSyntax())?.Parent
                    : null;
                while (parent is IDelegateCreationOperation or IConversionOperation)
                {
                    parent = parent.Parent;
                }

                return parent is IArgumentOperation { Parent: IInvocationOperation { TargetMethod.IsExtensionMethod: true, Arguments.Length: > 0 } over } &&
                    IsSequenceOf(over.Arguments[0].Value, lambdaParameter.Parameter.Type)
                    ? Root(over.Arguments[0].Value)
                    : lambdaParameter.Parameter;
            case IParameterReferenceOperation parameter:
                return parameter.Parameter;
            default:
                return null;
        }
    }

    // Whether 'source' (a LINQ operator's receiver) is a sequence of 'element's.
    private static bool IsSequenceOf(IOperation source, ITypeSymbol element) =>
        Unwrap(source).Type is { } type &&
        type.AllInterfaces.Append(type as INamedTypeSymbol).Any(i =>
            i is { Name: "IEnumerable", TypeArguments.Length: 1 } && SymbolEqualityComparer.Default.Equals(i.TypeArguments[0], element));

    private static IOperation Unwrap(IOperation operation)
    {
        while (operation is IConversionOperation conversion)
        {
            operation = conversion.Operand;
        }

        return operation;
    }

    private static void Report(OperationAnalysisContext context, RequestCodeReporter requestCode, string call) =>
        requestCode.Report(context, context.Operation, PartitionDiagnostics.BlockingCall, PartitionDiagnostics.BlockingCallInMethod, context.Operation.Syntax.GetLocation(), call);
}
