using Microsoft.CodeAnalysis;

namespace PartitionedHosting.Analyzers;

/// <summary>
/// Where a piece of code runs, as far as its own method tells: request code, or in <see cref="Method"/>, an ordinary
/// method whose callers decide (an endpoint handler given as a method group, a partition-local service's method), or
/// neither (code that runs elsewhere, setup code).
/// </summary>
internal readonly struct CodeLocation
{
    private CodeLocation(bool isRequestCode, IMethodSymbol? method)
    {
        IsRequestCode = isRequestCode;
        Method = method;
    }

    public static CodeLocation Request { get; } = new(true, null);

    public static CodeLocation Elsewhere { get; } = new(false, null);

    /// <summary>Request code where it is written: a route handler, a middleware, a controller, a hub.</summary>
    public bool IsRequestCode { get; }

    /// <summary>The ordinary method the code is in, when it is not request code where it is written.</summary>
    public IMethodSymbol? Method { get; }

    public static CodeLocation In(IMethodSymbol method) => new(false, method);
}
