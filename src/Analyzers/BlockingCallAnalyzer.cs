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
    /// Whether <paramref name="task"/> is known complete at <paramref name="at"/>: an <c>await</c> earlier in the same
    /// function, in a block that encloses the use, awaited that very expression, or <c>Task.WhenAll</c> of it
    /// (<c>await Task.WhenAll(a, b); return a.Result + b.Result;</c>), and the variable was not assigned since. The task
    /// is a local, a parameter or a field, an element of one, or the parameter of a lambda over one
    /// (<c>tasks.Select(t =&gt; t.Result)</c> after <c>await Task.WhenAll(tasks)</c>).
    /// </summary>
    private static bool CompletedBefore(IOperation? task, IOperation at)
    {
        var anchor = at;
        if (task is null || Root(task, ref anchor) is not { } root || at.SemanticModel is not { } model)
        {
            return false;
        }

        var function = RequestCode.EnclosingFunction(anchor.Syntax);
        if (function is null)
        {
            return false;
        }

        foreach (var awaitSyntax in function.DescendantNodes().OfType<AwaitExpressionSyntax>())
        {
            if (awaitSyntax.Span.End > anchor.Syntax.SpanStart || RequestCode.EnclosingFunction(awaitSyntax) != function ||
                awaitSyntax.FirstAncestorOrSelf<StatementSyntax>() is not { Parent: BlockSyntax or GlobalStatementSyntax } statement ||
                !(statement.Parent is GlobalStatementSyntax ? statement.Parent.Parent! : statement.Parent).Span.Contains(anchor.Syntax.Span) ||
                model.GetOperation(awaitSyntax) is not IAwaitOperation awaited ||
                !Completes(awaited.Operation, task, root))
            {
                continue;
            }

            var assignedSince = function.DescendantNodes()
                .OfType<AssignmentExpressionSyntax>()
                .Any(a => a.SpanStart > awaitSyntax.Span.End && a.SpanStart < anchor.Syntax.SpanStart &&
                    SymbolEqualityComparer.Default.Equals(model.GetSymbolInfo(a.Left).Symbol, root));
            if (!assignedSince)
            {
                return true;
            }
        }

        return false;
    }

    // Whether awaiting 'awaited' completes 'task': the same expression, or Task.WhenAll over its root.
    private static bool Completes(IOperation awaited, IOperation task, ISymbol root)
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

        return Root(Unwrap(task)) is { } direct && SymbolEqualityComparer.Default.Equals(direct, root) &&
            Microsoft.CodeAnalysis.CSharp.SyntaxFactory.AreEquivalent(awaited.Syntax, Unwrap(task).Syntax);
    }

    private static ISymbol? Root(IOperation? operation)
    {
        var anchor = operation!;
        return operation is null ? null : Root(operation, ref anchor);
    }

    /// <summary>
    /// The local, parameter or field a task expression reads, through element access and lambda parameters; for a
    /// lambda's parameter, <paramref name="anchor"/> becomes the call the lambda is given to, where the sequence is read.
    /// </summary>
    private static ISymbol? Root(IOperation operation, ref IOperation anchor)
    {
        switch (Unwrap(operation))
        {
            case ILocalReferenceOperation local:
                return local.Local;
            case IFieldReferenceOperation field:
                return field.Field;
            case IArrayElementReferenceOperation element:
                return Root(element.ArrayReference, ref anchor);
            case IPropertyReferenceOperation { Property.IsIndexer: true, Instance: { } indexed }:
                return Root(indexed, ref anchor);
            case IParameterReferenceOperation { Parameter.ContainingSymbol: IMethodSymbol { MethodKind: MethodKind.AnonymousFunction } } lambdaParameter:
                // t in tasks.Select(t => t.Result): the sequence the lambda is given with.
                var parent = lambdaParameter.Parameter.ContainingSymbol.DeclaringSyntaxReferences.FirstOrDefault() is { } syntax
                    ? operation.SemanticModel?.GetOperation(syntax.GetSyntax())?.Parent
                    : null;
                while (parent is IDelegateCreationOperation or IConversionOperation)
                {
                    parent = parent.Parent;
                }

                if (parent is IArgumentOperation { Parent: IInvocationOperation { TargetMethod.IsExtensionMethod: true, Arguments.Length: > 0 } over } &&
                    IsSequenceOf(over.Arguments[0].Value, lambdaParameter.Parameter.Type))
                {
                    anchor = over;
                    return Root(over.Arguments[0].Value, ref anchor);
                }

                return lambdaParameter.Parameter;
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
