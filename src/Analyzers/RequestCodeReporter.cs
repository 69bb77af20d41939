using System.Collections.Concurrent;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace PartitionedHosting.Analyzers;

/// <summary>
/// Reports diagnostics of request code. Code that is request code where it is written (a lambda given to
/// <c>MapGet</c>, a controller, a hub, a middleware) is reported at once. The code of another method is request code
/// when the method is an endpoint handler given as a method group (<c>MapGet("/x", Handlers.Get)</c>) or a method of a
/// partition-local service, which only the whole compilation tells: that is reported when the compilation ends, with
/// the rule's compilation-end descriptor.
/// </summary>
internal sealed class RequestCodeReporter
{
    private readonly ConcurrentDictionary<IMethodSymbol, bool> _handlers = new(SymbolEqualityComparer.Default);
    private readonly ConcurrentBag<(IMethodSymbol Method, Diagnostic Diagnostic)> _pending = [];

    private RequestCodeReporter(RequestCode requestCode, PartitionLocalServices? partitionLocal)
    {
        RequestCode = requestCode;
        PartitionLocal = partitionLocal;
    }

    public RequestCode RequestCode { get; }

    /// <summary>The compilation's partition-local services; null without Partitioned Hosting.</summary>
    public PartitionLocalServices? PartitionLocal { get; }

    /// <summary>Starts following the compilation; null for a compilation without ASP.NET Core.</summary>
    public static RequestCodeReporter? Start(CompilationStartAnalysisContext start)
    {
        if (RequestCode.For(start.Compilation) is not { } requestCode)
        {
            return null;
        }

        var reporter = new RequestCodeReporter(requestCode, PartitionLocalServices.Start(start));
        start.RegisterOperationAction(
            operation =>
            {
                var reference = (IMethodReferenceOperation)operation.Operation;
                if (requestCode.IsHandler(reference))
                {
                    reporter._handlers.TryAdd(reference.Method.OriginalDefinition, true);
                }
            },
            OperationKind.MethodReference);
        start.RegisterCompilationEndAction(end =>
        {
            foreach (var (method, diagnostic) in reporter._pending)
            {
                if (reporter.IsRequestMethod(method))
                {
                    end.ReportDiagnostic(diagnostic);
                }
            }
        });
        return reporter;
    }

    /// <summary>
    /// Reports <paramref name="now"/> at once when <paramref name="operation"/> is request code where it is written, or
    /// <paramref name="atEnd"/> when the compilation ends if its method then turns out to be.
    /// </summary>
    public void Report(OperationAnalysisContext context, IOperation operation, DiagnosticDescriptor now, DiagnosticDescriptor atEnd, Location location, params object[] arguments)
    {
        var where = RequestCode.Locate(operation);
        if (where.IsRequestCode)
        {
            context.ReportDiagnostic(Diagnostic.Create(now, location, arguments));
        }
        else if (where.Method is { } method)
        {
            _pending.Add((method, Diagnostic.Create(atEnd, location, arguments)));
        }
    }

    /// <summary>
    /// Whether code located by <see cref="RequestCode.Locate"/> is request code; for code of a method, only right when
    /// the compilation ends.
    /// </summary>
    public bool IsRequestCode(CodeLocation where) => where.IsRequestCode || where.Method is { } method && IsRequestMethod(method);

    // A handler, a method of a partition-local service, or a local function of one of them (run in place by it).
    private bool IsRequestMethod(IMethodSymbol method) =>
        _handlers.ContainsKey(method.OriginalDefinition) || PartitionLocal?.Contains(method.ContainingType) == true ||
        method is { MethodKind: MethodKind.LocalFunction, ContainingSymbol: IMethodSymbol outer } && IsRequestMethod(outer);
}
