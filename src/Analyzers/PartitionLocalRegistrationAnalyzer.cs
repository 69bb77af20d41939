using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace PartitionedHosting.Analyzers;

/// <summary>
/// PH0005: a registration on a partition's services (<c>IPartitionBuilder.Services</c>, in the callback of
/// <c>AddPartitionedHosting</c>) that the runtime refuses at startup: an instance, an open generic service, a keyed
/// service.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class PartitionLocalRegistrationAnalyzer : PartitionAnalyzer
{
    /// <inheritdoc />
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } = [PartitionDiagnostics.InvalidPartitionLocalRegistration];

    /// <inheritdoc />
    private protected override void OnCompilationStart(CompilationStartAnalysisContext start)
    {
        var partitionBuilder = start.Compilation.GetTypeByMetadataName("PartitionedHosting.IPartitionBuilder");
        if (partitionBuilder is null)
        {
            return;
        }

        start.RegisterOperationAction(
            operation =>
            {
                var invocation = (IInvocationOperation)operation.Operation;
                var method = invocation.TargetMethod;
                if (!method.IsExtensionMethod || invocation.Arguments.Length == 0 || !IsPartitionServices(invocation.Arguments[0].Value, partitionBuilder))
                {
                    return;
                }

                var problem = Problem(invocation);
                if (problem is not null)
                {
                    operation.ReportDiagnostic(Diagnostic.Create(PartitionDiagnostics.InvalidPartitionLocalRegistration, invocation.Syntax.GetLocation(), problem));
                }
            },
            OperationKind.Invocation);
    }

    internal static bool IsPartitionServices(IOperation receiver, INamedTypeSymbol partitionBuilder)
    {
        while (receiver is IConversionOperation conversion)
        {
            receiver = conversion.Operand;
        }

        return receiver is IPropertyReferenceOperation { Property.Name: "Services" } property &&
            (SymbolEqualityComparer.Default.Equals(property.Property.ContainingType, partitionBuilder) ||
             property.Instance?.Type is { } type && type.AllInterfaces.Contains(partitionBuilder, SymbolEqualityComparer.Default));
    }

    private static string? Problem(IInvocationOperation invocation)
    {
        var name = invocation.TargetMethod.Name;
        if (name.StartsWith("AddKeyed", StringComparison.Ordinal) || name.StartsWith("TryAddKeyed", StringComparison.Ordinal))
        {
            return "A keyed service cannot be partition-local: register it on the application's services";
        }

        if (!name.StartsWith("Add", StringComparison.Ordinal) && !name.StartsWith("TryAdd", StringComparison.Ordinal))
        {
            return null;
        }

        foreach (var argument in invocation.Arguments.Skip(1))
        {
            if (argument.Value is ITypeOfOperation { TypeOperand: INamedTypeSymbol { IsUnboundGenericType: true } openGeneric })
            {
                return $"The open generic service '{openGeneric.ToDisplayString()}' cannot be partition-local: register each closed type";
            }

            if (argument.Parameter?.Name is "implementationInstance" or "instance")
            {
                return "An instance cannot be partition-local, because every partition must get its own: register a type or a factory, or register the instance on the application's services to share it";
            }
        }

        return null;
    }
}
