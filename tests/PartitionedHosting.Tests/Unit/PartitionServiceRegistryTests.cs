using Microsoft.Extensions.DependencyInjection;

namespace PartitionedHosting.Tests.Unit;

public sealed class PartitionServiceRegistryTests
{
    [Fact]
    public void UnsupportedPartitionLocalRegistrations_AreRejectedWhenRegistered_AllAtOnce()
    {
        var services = new ServiceCollection();

        var error = Assert.Throws<InvalidOperationException>(() => services.AddPartitionedHostingCore(partition =>
        {
            partition.Services.AddSingleton(new Widget());
            partition.Services.AddSingleton(typeof(IList<>), typeof(List<>));
            partition.Services.AddKeyedSingleton<Widget>("key");
        }));

        Assert.Contains($"{typeof(Widget)}: an instance cannot be partition-local", error.Message, StringComparison.Ordinal);
        Assert.Contains("open generic services cannot be partition-local", error.Message, StringComparison.Ordinal);
        Assert.Contains("keyed services cannot be partition-local", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void PartitionLocalTypes_AreKnownToTheApplicationContainer_AsServices()
    {
        var services = new ServiceCollection();
        services.AddPartitionedHostingCore(partition => partition.Services.AddScoped<Widget>());
        using var provider = services.BuildServiceProvider();

        Assert.True(provider.GetRequiredService<IServiceProviderIsService>().IsService(typeof(Widget)));
        Assert.True(provider.GetRequiredService<IServiceProviderIsService>().IsService(typeof(IPartitionContext)));
        var error = Assert.Throws<InvalidOperationException>(() => provider.GetService<Widget>());
        Assert.Contains("no partition is executing", error.Message, StringComparison.Ordinal);
    }

    public sealed class Widget;
}
