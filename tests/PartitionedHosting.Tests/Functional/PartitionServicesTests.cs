using System.Globalization;
using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.DependencyInjection;
using PartitionedHosting.Tests.Infrastructure;

namespace PartitionedHosting.Tests.Functional;

/// <summary>Partition-local and shared services, as request code on real Kestrel sees them.</summary>
public sealed class PartitionServicesTests
{
    [Theory]
    [InlineData("SingleThreaded")]
    [InlineData("FreeThreaded")]
    public async Task LocalSingletons_DifferBetweenPartitions_SharedSingletonIsOne(string mode)
    {
        await using var app = await KestrelTestApp.StartAsync(
            Settings.Partitioned(3, mode),
            a => a.MapGet("/ids", (IPartitionContext partition, LocalCounter local, SharedClock shared) =>
                $"{partition.Id} {RuntimeHelpers.GetHashCode(local)} {RuntimeHelpers.GetHashCode(shared)}"),
            partition => partition.Services.AddSingleton<LocalCounter>(),
            builder => builder.Services.AddSingleton<SharedClock>());
        using var client = app.CreateClient(newConnectionPerRequest: true);

        var answers = new List<string[]>();
        for (var i = 0; i < 9; i++)
        {
            answers.Add((await client.GetStringAsync("/ids")).Split(' '));
        }

        var localByPartition = answers.GroupBy(a => a[0]).ToDictionary(g => g.Key, g => g.Select(a => a[1]).Distinct().ToList());
        Assert.Equal(3, localByPartition.Count);
        Assert.All(localByPartition.Values, ids => Assert.Single(ids));
        Assert.Equal(3, localByPartition.Values.Select(ids => ids[0]).Distinct().Count());
        Assert.Single(answers.Select(a => a[2]).Distinct());
    }

    [Fact]
    public async Task ScopedServices_ComeFromThePartitionScope_AndMayDependOnLocalAndSharedSingletons()
    {
        await using var app = await KestrelTestApp.StartAsync(
            Settings.Partitioned(2, "SingleThreaded"),
            a => a.MapGet("/scoped", (RequestLedger first, RequestLedger second, LocalCounter local) =>
                $"{ReferenceEquals(first, second)} {ReferenceEquals(first.Counter, local)} {first.Clock is not null}"),
            partition =>
            {
                partition.Services.AddSingleton<LocalCounter>();
                partition.Services.AddScoped<RequestLedger>();
            },
            builder => builder.Services.AddSingleton<SharedClock>());
        using var client = app.CreateClient();

        Assert.Equal("True True True", await client.GetStringAsync("/scoped"));
    }

    [Fact]
    public async Task LocalScopedServices_AreNewPerRequest_AndDisposedAfterIt()
    {
        var disposed = 0;
        await using var app = await KestrelTestApp.StartAsync(
            Settings.Partitioned(1, "SingleThreaded"),
            a => a.MapGet("/scoped", (DisposableScoped scoped) => RuntimeHelpers.GetHashCode(scoped).ToString(CultureInfo.InvariantCulture)),
            partition => partition.Services.AddScoped(_ => new DisposableScoped(() => Interlocked.Increment(ref disposed))));
        using var client = app.CreateClient();

        var first = await client.GetStringAsync("/scoped");
        var second = await client.GetStringAsync("/scoped");

        Assert.NotEqual(first, second);
        await KestrelTestApp.WaitUntilAsync(() => Volatile.Read(ref disposed) == 2, "both request scopes are disposed");
    }

    [Theory]
    [InlineData("SingleThreaded", false)]
    [InlineData("SingleThreaded", true)]
    [InlineData("FreeThreaded", false)]
    [InlineData("FreeThreaded", true)]
    public async Task SharedScopedServices_AreOnePerRequest_TheSameAsBeforeThePartition_AndDisposedAfterIt(string mode, bool resolvedBeforePartitioning)
    {
        var disposed = 0;
        await using var app = await KestrelTestApp.StartAsync(
            Settings.Partitioned(2, mode),
            a => a.MapGet("/scoped", async (HttpContext context, IPartitionContext partition, DisposableScoped first, DisposableScoped second, LocalCounter local, IServiceScopeFactory scopes) =>
            {
                await using var other = scopes.CreateAsyncScope();
                return string.Join(' ',
                    ReferenceEquals(first, second),
                    context.Items["before"] is { } before ? ReferenceEquals(before, first) : !resolvedBeforePartitioning,
                    ReferenceEquals(local, partition.Services.GetRequiredService<LocalCounter>()),
                    ReferenceEquals(other.ServiceProvider.GetRequiredService<DisposableScoped>(), first),
                    ReferenceEquals(other.ServiceProvider.GetRequiredService<LocalCounter>(), local));
            }),
            partition => partition.Services.AddSingleton<LocalCounter>(),
            builder =>
            {
                builder.Services.AddScoped(_ => new DisposableScoped(() => Interlocked.Increment(ref disposed)));
                if (resolvedBeforePartitioning)
                {
                    // Ahead of the partitioning middleware: the request's application scope exists before it runs.
                    builder.Services.Insert(0, ServiceDescriptor.Transient<IStartupFilter, ResolveBeforePartitioning>());
                }
            });
        using var client = app.CreateClient();

        for (var i = 0; i < 3; i++)
        {
            Assert.Equal("True True True False True", await client.GetStringAsync("/scoped"));
        }

        // Each request's own and the one of the scope it created: each once.
        await KestrelTestApp.WaitUntilAsync(() => Volatile.Read(ref disposed) >= 6, "the request scopes are disposed");
        await Task.Delay(100);
        Assert.Equal(6, Volatile.Read(ref disposed));
    }

    [Fact]
    public async Task ControllersAndMiddleware_ReceiveThePartitionsInstances()
    {
        await using var app = await KestrelTestApp.StartAsync(
            Settings.Partitioned(2, "SingleThreaded"),
            a =>
            {
                a.UseMiddleware<StampingMiddleware>();
                a.MapControllers();
            },
            partition => partition.Services.AddSingleton<LocalCounter>(),
            builder => builder.Services.AddControllers().AddApplicationPart(typeof(PartitionServicesTests).Assembly));
        using var client = app.CreateClient();

        var response = await client.GetAsync("/test-controller");
        response.EnsureSuccessStatusCode();
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal(response.Headers.GetValues("x-counter").Single(), body);
    }

    [Fact]
    public async Task LocalService_ResolvedFromTheApplicationContainer_FailsNamingTheService()
    {
        await using var app = await KestrelTestApp.StartAsync(
            Settings.Partitioned(1, "FreeThreaded"),
            _ => { },
            partition => partition.Services.AddSingleton<LocalCounter>());

        var error = Assert.Throws<InvalidOperationException>(() => app.Services.GetRequiredService<LocalCounter>());
        Assert.Contains(typeof(LocalCounter).FullName!, error.Message, StringComparison.Ordinal);
        Assert.Contains("partition-local", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PartitionContextServices_ResolveLocalServicesOutsideRequests()
    {
        await using var app = await KestrelTestApp.StartAsync(
            Settings.Partitioned(2, "FreeThreaded"),
            _ => { },
            partition => partition.Services.AddSingleton<LocalCounter>());

        var partitions = app.Runtime.Partitions;
        var first = partitions[0].Services.GetRequiredService<LocalCounter>();

        Assert.Same(first, partitions[0].Services.GetRequiredService<LocalCounter>());
        Assert.NotSame(first, partitions[1].Services.GetRequiredService<LocalCounter>());
        Assert.Same(partitions[1].Current, partitions[1].Services.GetRequiredService<IPartitionContext>());
    }

    [Fact]
    public async Task LocalSingletons_AreDisposedAtShutdown()
    {
        var disposed = 0;
        var app = await KestrelTestApp.StartAsync(
            Settings.Partitioned(2, "SingleThreaded"),
            a => a.MapGet("/touch", (DisposableScoped local) => "ok"),
            partition => partition.Services.AddSingleton(_ => new DisposableScoped(() => Interlocked.Increment(ref disposed))));
        using (var client = app.CreateClient(newConnectionPerRequest: true))
        {
            await client.GetStringAsync("/touch");
            await client.GetStringAsync("/touch");
        }

        await app.DisposeAsync();

        Assert.Equal(2, disposed);
    }

    public sealed class LocalCounter
    {
        public int Count { get; set; }
    }

    public sealed class SharedClock;

    public sealed class RequestLedger(LocalCounter counter, SharedClock clock)
    {
        public LocalCounter Counter => counter;

        public SharedClock Clock => clock;
    }

    public sealed class DisposableScoped(Action onDispose) : IAsyncDisposable
    {
        public ValueTask DisposeAsync()
        {
            onDispose();
            return default;
        }
    }

    private sealed class ResolveBeforePartitioning : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.Use((context, inner) =>
            {
                context.Items["before"] = context.RequestServices.GetRequiredService<DisposableScoped>();
                return inner(context);
            });
            next(app);
        };
    }

    public sealed class StampingMiddleware(RequestDelegate next)
    {
        public Task InvokeAsync(HttpContext context, LocalCounter counter)
        {
            context.Response.Headers["x-counter"] = RuntimeHelpers.GetHashCode(counter).ToString(CultureInfo.InvariantCulture);
            return next(context);
        }
    }
}

/// <summary>A controller whose constructor takes a partition-local service.</summary>
[ApiController]
[Route("test-controller")]
public sealed class PartitionTestController(PartitionServicesTests.LocalCounter counter) : ControllerBase
{
    [HttpGet]
    public string Get() => RuntimeHelpers.GetHashCode(counter).ToString(CultureInfo.InvariantCulture);
}
