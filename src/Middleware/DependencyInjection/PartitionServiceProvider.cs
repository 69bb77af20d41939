using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;

namespace PartitionedHosting.DependencyInjection;

/// <summary>
/// The services seen by code running in a partition: partition-local services from the partition's container,
/// everything else from the application. As a request's <see cref="IServiceProvidersFeature"/>, it pairs the
/// request's application scope (created by ASP.NET Core as usual, on first use) with a partition scope (also created
/// on first use, and disposed with the response).
/// </summary>
internal sealed class PartitionServiceProvider :
    IServiceProvider,
    ISupportRequiredService,
    IKeyedServiceProvider,
    IServiceProviderIsKeyedService,
    IServiceProvidersFeature
{
    private PartitionContainer _container;
    private IServiceProvidersFeature? _applicationFeature;
    private HttpContext? _httpContext;
    private bool _scoped;
    private IServiceProvider? _application;
    private IServiceScope? _applicationScope;
    private IServiceScope? _localScope;
    private IServiceProvider? _requestServices;

    /// <summary>The partition's services outside any scope.</summary>
    public PartitionServiceProvider(PartitionContainer container)
    {
        _container = container;
        _application = container.ApplicationServices;
    }

    /// <summary>The services of a scope created from the partition.</summary>
    public PartitionServiceProvider(PartitionContainer container, IServiceProvider applicationScope)
    {
        _container = container;
        _application = applicationScope;
        _scoped = true;
    }

    /// <summary>An empty provider, pooled with a request's other state (see <see cref="InitializeForRequest"/>).</summary>
    internal PartitionServiceProvider()
    {
        _container = null!;
    }

    /// <summary>Makes a pooled provider the services of a request running in the partition.</summary>
    /// <remarks>
    /// <paramref name="applicationFeature"/> is the request's own feature when the server or an earlier middleware set
    /// one (or, for a request moved to its key's owner, its services in the partition it came from); when none was
    /// asked for yet, an application scope is created on first use.
    /// </remarks>
    internal void InitializeForRequest(PartitionContainer container, HttpContext httpContext, IServiceProvidersFeature? applicationFeature)
    {
        _container = container;
        _httpContext = httpContext;
        _applicationFeature = applicationFeature;
        _scoped = true;
    }

    /// <summary>
    /// Forgets the request, once its response has completed and its scopes are disposed, so that the provider can serve
    /// another one.
    /// </summary>
    internal void ResetForPool()
    {
        _container = null!;
        _httpContext = null;
        _applicationFeature = null;
        _application = null;
        _localScope = null;
        _requestServices = null;
    }

    /// <summary>The partition instance whose services these are.</summary>
    public IPartitionContext Partition => _container.Partition;

    IServiceProvider IServiceProvidersFeature.RequestServices
    {
        get => _requestServices ?? this;
        set => _requestServices = value;
    }

    private IServiceProvider Application =>
        _application ??= _applicationFeature?.RequestServices ?? CreateApplicationScope();

    public object? GetService(Type serviceType)
    {
        if (_container.LocalServices.TryGetValue(serviceType, out var singleton))
        {
            return singleton || !_scoped ? _container.LocalProvider.GetService(serviceType) : LocalScope.GetService(serviceType);
        }

        if (serviceType == typeof(IServiceProvider) ||
            serviceType == typeof(ISupportRequiredService) ||
            serviceType == typeof(IKeyedServiceProvider) ||
            serviceType == typeof(IServiceProviderIsService) ||
            serviceType == typeof(IServiceProviderIsKeyedService))
        {
            return this;
        }

        if (serviceType == typeof(IServiceScopeFactory))
        {
            return _container;
        }

        return Application.GetService(serviceType);
    }

    public object GetRequiredService(Type serviceType) =>
        GetService(serviceType) ?? throw new InvalidOperationException($"No service for type '{serviceType}' has been registered.");

    public object? GetKeyedService(Type serviceType, object? serviceKey) =>
        Application is IKeyedServiceProvider keyed
            ? keyed.GetKeyedService(serviceType, serviceKey)
            : throw new InvalidOperationException("The application's service provider does not support keyed services.");

    public object GetRequiredKeyedService(Type serviceType, object? serviceKey) =>
        Application is IKeyedServiceProvider keyed
            ? keyed.GetRequiredKeyedService(serviceType, serviceKey)
            : throw new InvalidOperationException("The application's service provider does not support keyed services.");

    public bool IsService(Type serviceType) =>
        _container.LocalServices.ContainsKey(serviceType) ||
        serviceType == typeof(IServiceProvider) ||
        serviceType == typeof(IServiceScopeFactory) ||
        (_container.ApplicationIsService?.IsService(serviceType) ?? false);

    public bool IsKeyedService(Type serviceType, object? serviceKey) =>
        _container.ApplicationIsService is IServiceProviderIsKeyedService keyed && keyed.IsKeyedService(serviceType, serviceKey);

    /// <summary>Disposes the partition scope of a scope created from the partition.</summary>
    public ValueTask DisposeLocalScopeAsync() =>
        Interlocked.Exchange(ref _localScope, null) is IAsyncDisposable scope ? scope.DisposeAsync() : default;

    /// <summary>Disposes the partition scope of a scope created from the partition, synchronously.</summary>
    public void DisposeLocalScope() => Interlocked.Exchange(ref _localScope, null)?.Dispose();

    private IServiceProvider CreateApplicationScope()
    {
        // As ASP.NET Core's own RequestServicesFeature does: one application scope per request, disposed with it, after
        // its OnCompleted callbacks (see DisposeApplicationScopeAsync).
        _applicationScope = _container.ApplicationScopeFactory.CreateScope();
        return _applicationScope.ServiceProvider;
    }

    /// <summary>
    /// Disposes the request's application scope, if it created one: called once the request's response has completed
    /// (after its OnCompleted callbacks and its partition scope), on whichever thread completed it.
    /// </summary>
    internal ValueTask DisposeApplicationScopeAsync() =>
        Volatile.Read(ref _applicationScope) is null ? default : Interlocked.Exchange(ref _applicationScope, null) switch
        {
            IAsyncDisposable scope => scope.DisposeAsync(),
            { } scope => Dispose(scope),
            null => default,
        };

    private static ValueTask Dispose(IDisposable disposable)
    {
        disposable.Dispose();
        return default;
    }

    private IServiceProvider LocalScope => (Volatile.Read(ref _localScope) ?? CreateLocalScope()).ServiceProvider;

    private IServiceScope CreateLocalScope()
    {
        var scope = _container.CreateLocalScope(this);
        var winner = Interlocked.CompareExchange(ref _localScope, scope, null);
        if (winner is not null)
        {
            scope.Dispose();
            return winner;
        }

        // Registered with the response so that it is disposed after the OnCompleted callbacks, like the request's
        // application scope, and on the partition's thread in a single-threaded partition.
        _httpContext?.Response.RegisterForDisposeAsync((IAsyncDisposable)scope);
        return scope;
    }
}
