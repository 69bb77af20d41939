using Microsoft.Extensions.DependencyInjection;

namespace PartitionedHosting.DependencyInjection;

/// <summary>A scope created from a partition's services: an application scope paired with a partition scope.</summary>
internal sealed class PartitionServiceScope : IServiceScope, IAsyncDisposable
{
    private readonly AsyncServiceScope _applicationScope;
    private readonly PartitionServiceProvider _services;

    public PartitionServiceScope(PartitionContainer container)
    {
        _applicationScope = container.ApplicationScopeFactory.CreateAsyncScope();
        _services = new PartitionServiceProvider(container, _applicationScope.ServiceProvider);
    }

    public IServiceProvider ServiceProvider => _services;

    public void Dispose()
    {
        _services.DisposeLocalScope();
        _applicationScope.Dispose();
    }

    public async ValueTask DisposeAsync()
    {
        await _services.DisposeLocalScopeAsync().ConfigureAwait(false);
        await _applicationScope.DisposeAsync().ConfigureAwait(false);
    }
}
