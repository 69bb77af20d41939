using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Operations;

namespace PartitionedHosting.Analyzers;

/// <summary>
/// Tells whether code runs as request code, on the request's partition: inside an endpoint handler given to a
/// <c>Map*</c> method, a middleware (<c>Use</c>/<c>Run</c> delegates, <c>Invoke</c>/<c>InvokeAsync</c> of a convention
/// middleware, <c>IMiddleware</c>), a controller, a Razor Pages page model or a SignalR hub, and not inside a delegate
/// that runs elsewhere (<c>Task.Run</c>, <c>StartNew</c>, <c>ContinueWith</c>, the thread pool, a thread, a timer).
/// </summary>
internal sealed class RequestCode
{
    private readonly INamedTypeSymbol? _endpointRouteBuilder;
    private readonly INamedTypeSymbol? _applicationBuilder;
    private readonly INamedTypeSymbol? _httpContext;
    private readonly INamedTypeSymbol? _middleware;
    private readonly INamedTypeSymbol?[] _requestTypes;
    private readonly INamedTypeSymbol?[] _elsewhereTypes;

    private RequestCode(Compilation compilation)
    {
        _endpointRouteBuilder = compilation.GetTypeByMetadataName("Microsoft.AspNetCore.Routing.IEndpointRouteBuilder");
        _applicationBuilder = compilation.GetTypeByMetadataName("Microsoft.AspNetCore.Builder.IApplicationBuilder");
        _httpContext = compilation.GetTypeByMetadataName("Microsoft.AspNetCore.Http.HttpContext");
        _middleware = compilation.GetTypeByMetadataName("Microsoft.AspNetCore.Http.IMiddleware");
        _requestTypes =
        [
            compilation.GetTypeByMetadataName("Microsoft.AspNetCore.Mvc.ControllerBase"),
            compilation.GetTypeByMetadataName("Microsoft.AspNetCore.Mvc.RazorPages.PageModel"),
            compilation.GetTypeByMetadataName("Microsoft.AspNetCore.SignalR.Hub"),
        ];
        _elsewhereTypes =
        [
            compilation.GetTypeByMetadataName("System.Threading.Tasks.Task"),
            compilation.GetTypeByMetadataName("System.Threading.Tasks.Task`1"),
            compilation.GetTypeByMetadataName("System.Threading.Tasks.TaskFactory"),
            compilation.GetTypeByMetadataName("System.Threading.Tasks.TaskFactory`1"),
            compilation.GetTypeByMetadataName("System.Threading.ThreadPool"),
            compilation.GetTypeByMetadataName("System.Threading.Thread"),
            compilation.GetTypeByMetadataName("System.Threading.Timer"),
            compilation.GetTypeByMetadataName("System.Threading.Tasks.Parallel"),
        ];
    }

    /// <summary>The request code of an ASP.NET Core compilation; null for a compilation without ASP.NET Core.</summary>
    public static RequestCode? For(Compilation compilation)
    {
        var requestCode = new RequestCode(compilation);
        return requestCode._httpContext is null ? null : requestCode;
    }

    /// <summary>Whether <paramref name="operation"/> runs as request code, as far as its own method tells.</summary>
    public bool Contains(IOperation operation) => Locate(operation).IsRequestCode;

    /// <summary>
    /// Where <paramref name="operation"/> runs: request code where it is written, or in an ordinary method whose callers
    /// decide (see <see cref="RequestCodeReporter"/>), or elsewhere.
    /// </summary>
    public CodeLocation Locate(IOperation operation)
    {
        var where = LocateInMethods(operation, out var localFunction);

        // A local function given as a handler (MapGet("/x", Get) in top-level statements) is request code too.
        return !where.IsRequestCode && localFunction is not null ? CodeLocation.In(localFunction) : where;
    }

    private CodeLocation LocateInMethods(IOperation operation, out IMethodSymbol? localFunction)
    {
        localFunction = null;
        var model = operation.SemanticModel!;
        for (var node = operation.Syntax.Parent; node is not null; node = node.Parent)
        {
            if (node is LocalFunctionStatementSyntax local && localFunction is null)
            {
                localFunction = model.GetDeclaredSymbol(local) as IMethodSymbol;
            }

            switch (node)
            {
                case AnonymousFunctionExpressionSyntax function:
                    switch (ClassifyDelegate(model.GetOperation(function)))
                    {
                        case true:
                            return CodeLocation.Request;
                        case false:
                            return CodeLocation.Elsewhere;
                    }

                    // A delegate run in place (a LINQ selector, a local callback): it runs where its caller does.
                    break;
                case MethodDeclarationSyntax method:
                    return model.GetDeclaredSymbol(method) is not IMethodSymbol symbol ? CodeLocation.Elsewhere
                        : !IsRequestMethod(symbol) ? CodeLocation.In(symbol)
                        : RunsOnlyElsewhere(method, symbol, model) ? CodeLocation.Elsewhere
                        : CodeLocation.Request;
                case ConstructorDeclarationSyntax or AccessorDeclarationSyntax or OperatorDeclarationSyntax or ConversionOperatorDeclarationSyntax or FieldDeclarationSyntax:
                    return CodeLocation.Elsewhere;
            }
        }

        return CodeLocation.Elsewhere;
    }

    /// <summary>
    /// Whether a method of a controller, hub or middleware is only ever given, as a method group, to what runs it
    /// elsewhere (<c>Task.Run(Refresh)</c>, a timer) in its type's declaration, and never called or referenced otherwise
    /// there: then it is not request code. Looked at only for code that would be reported.
    /// </summary>
    private bool RunsOnlyElsewhere(MethodDeclarationSyntax method, IMethodSymbol symbol, SemanticModel model)
    {
        if (method.Parent is not TypeDeclarationSyntax type)
        {
            return false;
        }

        var givenElsewhere = false;
        foreach (var name in type.DescendantNodes().OfType<SimpleNameSyntax>())
        {
            if (name.Identifier.ValueText != symbol.Name || method.Span.Contains(name.Span) && name.Parent == method ||
                !SymbolEqualityComparer.Default.Equals(model.GetSymbolInfo(name).Symbol?.OriginalDefinition, symbol.OriginalDefinition))
            {
                continue;
            }

            // A reference to the method: given to work elsewhere as a method group, or anything else (a call, a handler).
            var reference = model.GetOperation(name.Parent is MemberAccessExpressionSyntax access && access.Name == name ? access : name);
            if (reference is IMethodReferenceOperation methodGroup && ClassifyDelegate(methodGroup) == false)
            {
                givenElsewhere = true;
            }
            else
            {
                return false;
            }
        }

        return givenElsewhere;
    }

    /// <summary>
    /// The innermost function <paramref name="node"/> is in: a lambda, a local function, a method, or the top-level
    /// statements (the compilation unit).
    /// </summary>
    public static SyntaxNode? EnclosingFunction(SyntaxNode node) =>
        node.Parent?.FirstAncestorOrSelf<SyntaxNode>(n => n is AnonymousFunctionExpressionSyntax or LocalFunctionStatementSyntax or BaseMethodDeclarationSyntax or CompilationUnitSyntax);

    /// <summary>Whether a method group is given as a request handler: <c>MapGet("/x", Handlers.Get)</c>, <c>Use(Middleware)</c>.</summary>
    public bool IsHandler(IMethodReferenceOperation reference) => ClassifyDelegate(reference) == true;

    /// <summary>Whether a delegate runs elsewhere: on the thread pool, a thread or a timer (<c>Task.Run</c>, <c>StartNew</c>, ...).</summary>
    public bool RunsElsewhere(IAnonymousFunctionOperation function) => ClassifyDelegate(function) == false;

    /// <summary>
    /// True for a delegate that is request code (an endpoint handler, a middleware), false for one that runs elsewhere,
    /// null when it runs where its caller does.
    /// </summary>
    private bool? ClassifyDelegate(IOperation? function)
    {
        var parent = function?.Parent;
        while (parent is IDelegateCreationOperation or IConversionOperation)
        {
            parent = parent.Parent;
        }

        IMethodSymbol? method = parent switch
        {
            IArgumentOperation { Parent: IInvocationOperation invocation } => invocation.TargetMethod,
            IArgumentOperation { Parent: IObjectCreationOperation creation } => creation.Constructor,
            _ => null,
        };
        var parameterType = (parent as IArgumentOperation)?.Parameter?.Type;
        if (method is null)
        {
            return null;
        }

        var containing = method.ContainingType?.OriginalDefinition;
        if (_elsewhereTypes.Any(t => SymbolEqualityComparer.Default.Equals(t, containing)) &&
            method.Name is "Run" or "StartNew" or "ContinueWith" or "QueueUserWorkItem" or "UnsafeQueueUserWorkItem" or ".ctor" or "For" or "ForEach" or "ForEachAsync" or "Invoke")
        {
            return false;
        }

        var receiver = method.IsExtensionMethod ? method.Parameters.FirstOrDefault()?.Type : method.ContainingType;
        if (receiver is not null && HandlesRequests(parameterType) &&
            (Implements(receiver, _endpointRouteBuilder) && method.Name.StartsWith("Map", StringComparison.Ordinal) ||
             Implements(receiver, _applicationBuilder) && method.Name is "Use" or "Run"))
        {
            return true;
        }

        return null;
    }

    /// <summary>
    /// Whether a delegate parameter takes request handlers: a <c>RequestDelegate</c>, a route handler (<c>Delegate</c>),
    /// or a function of the <c>HttpContext</c>; not a setup callback (<c>Action&lt;IApplicationBuilder&gt;</c> of
    /// <c>Map</c>/<c>UseWhen</c>, the outer <c>Func&lt;RequestDelegate, RequestDelegate&gt;</c> of <c>Use</c>, an
    /// options callback), which runs once at startup.
    /// </summary>
    private bool HandlesRequests(ITypeSymbol? parameterType) => parameterType switch
    {
        { Name: "RequestDelegate" } or { Name: "Delegate", ContainingNamespace.Name: "System" } => true,
        INamedTypeSymbol { Name: "Func", TypeArguments.Length: > 0 } func => SymbolEqualityComparer.Default.Equals(func.TypeArguments[0], _httpContext),
        _ => false,
    };

    private bool IsRequestMethod(IMethodSymbol method)
    {
        if (method.IsStatic)
        {
            return false;
        }

        var type = method.ContainingType;
        for (var current = type; current is not null; current = current.BaseType)
        {
            if (_requestTypes.Any(t => SymbolEqualityComparer.Default.Equals(t, current.OriginalDefinition)) || IsGrpcServiceBase(current))
            {
                return true;
            }
        }

        // Middleware: IMiddleware, or the convention (Invoke or InvokeAsync taking the HttpContext first).
        return Implements(type, _middleware) ||
            method.Name is "Invoke" or "InvokeAsync" && method.Parameters.FirstOrDefault() is { } first && SymbolEqualityComparer.Default.Equals(first.Type, _httpContext);
    }

    /// <summary>A gRPC service's generated base class (<c>[BindServiceMethod]</c>): its overrides are request code.</summary>
    private static bool IsGrpcServiceBase(INamedTypeSymbol type) =>
        type.GetAttributes().Any(a => a.AttributeClass is { Name: "BindServiceMethodAttribute", ContainingNamespace: { Name: "Core", ContainingNamespace.Name: "Grpc" } });

    private static bool Implements(ITypeSymbol type, INamedTypeSymbol? @interface) =>
        @interface is not null && (SymbolEqualityComparer.Default.Equals(type, @interface) || type.AllInterfaces.Contains(@interface, SymbolEqualityComparer.Default));
}
