using Microsoft.CodeAnalysis.Diagnostics;

namespace PartitionedHosting.Analyzers;

/// <summary>
/// What every partition analyzer does the same way: runs concurrently, skips generated code, and starts per
/// compilation, where it looks up the types it needs (a compilation without them gets no callbacks).
/// </summary>
public abstract class PartitionAnalyzer : DiagnosticAnalyzer
{
    /// <inheritdoc />
    public sealed override void Initialize(AnalysisContext context)
    {
        context.EnableConcurrentExecution();
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.RegisterCompilationStartAction(OnCompilationStart);
    }

    /// <summary>Registers the analyzer's actions for one compilation.</summary>
    /// <param name="context">The compilation's start.</param>
    private protected abstract void OnCompilationStart(CompilationStartAnalysisContext context);
}
