using System.Collections.Concurrent;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace PartitionedHosting.Analyzers;

/// <summary>
/// The partition-local services of a compilation: the types registered on <c>IPartitionBuilder.Services</c> anywhere
/// in it (type arguments and <c>typeof</c> operands of the registration). Complete only when the compilation ends.
/// </summary>
internal sealed class PartitionLocalServices
{
    private readonly ConcurrentDictionary<ITypeSymbol, bool> _types = new(SymbolEqualityComparer.Default);

    private PartitionLocalServices()
    {
    }

    /// <summary>Starts collecting them; null for a compilation that does not reference Partitioned Hosting.</summary>
    public static PartitionLocalServices? Start(CompilationStartAnalysisContext start)
    {
        var partitionBuilder = start.Compilation.GetTypeByMetadataName("PartitionedHosting.IPartitionBuilder");
        if (partitionBuilder is null)
        {
            return null;
        }

        var services = new PartitionLocalServices();
        start.RegisterOperationAction(
            operation =>
            {
                var invocation = (IInvocationOperation)operation.Operation;
                if (invocation.TargetMethod.IsExtensionMethod && invocation.Arguments.Length > 0 &&
                    PartitionLocalRegistrationAnalyzer.IsPartitionServices(invocation.Arguments[0].Value, partitionBuilder))
                {
                    foreach (var type in RegisteredTypes(invocation))
                    {
                        services._types.TryAdd(type, true);
                    }
                }
            },
            OperationKind.Invocation);
        return services;
    }

    /// <summary>Whether <paramref name="type"/> is registered as a partition-local service (read when the compilation ends).</summary>
    public bool Contains(ITypeSymbol? type) => type is not null && _types.ContainsKey(type);

    /// <summary>The service and implementation types a registration names (type arguments, <c>typeof</c>).</summary>
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
}
