namespace PartitionedHosting.Analyzers.Tests;

public sealed class PartitionLocalRegistrationAnalyzerTests
{
    [Fact]
    public Task Instances_OpenGenerics_AndKeyedServices_OnAPartitionsServices_AreErrors()
    {
        return Verify<PartitionLocalRegistrationAnalyzer>.AnalyzeAsync("""
            using Microsoft.AspNetCore.Builder;
            using Microsoft.Extensions.DependencyInjection;
            using Microsoft.Extensions.DependencyInjection.Extensions;
            using Microsoft.Extensions.Hosting;

            public interface IRepository<T> { }
            public sealed class Repository<T> : IRepository<T> { }
            public sealed class Cache { }

            public static class Setup
            {
                public static void Configure(WebApplicationBuilder builder)
                {
                    builder.AddPartitionedHosting(partition =>
                    {
                        {|PH0005:partition.Services.AddSingleton(new Cache())|};
                        {|PH0005:partition.Services.TryAddSingleton(new Cache())|};
                        {|PH0005:partition.Services.AddSingleton(typeof(IRepository<>), typeof(Repository<>))|};
                        {|PH0005:partition.Services.AddKeyedSingleton<Cache>("orders")|};

                        // What a partition can have of its own: types and factories.
                        partition.Services.AddSingleton<Cache>();
                        partition.Services.AddScoped(typeof(IRepository<Cache>), typeof(Repository<Cache>));
                        partition.Services.AddSingleton(sp => new Cache());
                    });

                    // The application's services take all of them.
                    builder.Services.AddSingleton(new Cache());
                    builder.Services.AddSingleton(typeof(IRepository<>), typeof(Repository<>));
                    builder.Services.AddKeyedSingleton<Cache>("orders");
                }
            }
            """);
    }
}
