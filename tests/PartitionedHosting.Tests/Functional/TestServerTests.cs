using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using PartitionedHosting.Partitions;
using PartitionedHosting.Tests.Infrastructure;

namespace PartitionedHosting.Tests.Functional;

/// <summary>
/// Under <c>TestServer</c> (what <c>WebApplicationFactory</c> swaps in), which runs a request's <c>OnCompleted</c>
/// callbacks only when its pipeline succeeds, a request still ends: its partition does not wait for it forever.
/// </summary>
public sealed class TestServerTests
{
    [Theory]
    [InlineData("SingleThreaded")]
    [InlineData("FreeThreaded")]
    public async Task ARequestWhosePipelineThrows_Ends_AndARecycleDoesNotWaitForIt(string mode)
    {
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseTestServer();
        builder.Configuration.AddInMemoryCollection(Settings.Partitioned(1, mode));
        builder.AddPartitionedHosting();
        await using var app = builder.Build();
        app.MapGet("/throw", IResult () => throw new InvalidOperationException("boom"));
        app.MapGet("/ok", () => "ok");
        await app.StartAsync();
        using var client = app.GetTestClient();
        var partition = app.Services.GetRequiredService<PartitionRuntime>().Partitions[0];

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => client.GetAsync("/throw").WaitAsync(KestrelTestApp.Timeout));
        Assert.Equal("boom", error.Message);
        Assert.Equal("ok", await client.GetStringAsync("/ok").WaitAsync(KestrelTestApp.Timeout));

        await KestrelTestApp.WaitUntilAsync(() => partition.ActiveRequests == 0, "the request that threw ends");
        await app.Services.GetRequiredService<IPartitionManager>().RecycleAsync(0).WaitAsync(KestrelTestApp.Timeout);
        Assert.Equal(2, partition.Current.Generation);
    }

    /// <summary>
    /// The server sees a request's failure as the pipeline ended it, whether the request hopped into its partition
    /// (single-threaded: the task the server awaits is completed from the partition's thread) or not: the same
    /// exception object, for a cancellation the one that canceled it. (TestServer passes any failure on as an exception,
    /// so whether the server's task is canceled or faulted is not seen here.)
    /// </summary>
    [Theory]
    [InlineData("SingleThreaded")]
    [InlineData("FreeThreaded")]
    public async Task TheServer_SeesThePipelinesOwnException_AndItsCancellation(string mode)
    {
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseTestServer();
        builder.Configuration.AddInMemoryCollection(Settings.Partitioned(1, mode));
        builder.AddPartitionedHosting();
        await using var app = builder.Build();
        var thrown = new List<Exception>();
        app.MapGet("/fail", async Task () =>
        {
            await Task.Yield();
            var error = new InvalidOperationException("boom");
            lock (thrown)
            {
                thrown.Add(error);
            }

            throw error;
        });
        app.MapGet("/cancel", async Task () =>
        {
            await Task.Yield();
            var canceled = new OperationCanceledException("gone");
            lock (thrown)
            {
                thrown.Add(canceled);
            }

            throw canceled;
        });
        await app.StartAsync();
        var server = app.GetTestServer();

        var failed = await Assert.ThrowsAsync<InvalidOperationException>(() => server.SendAsync(context => context.Request.Path = "/fail").WaitAsync(KestrelTestApp.Timeout));
        var canceled = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => server.SendAsync(context => context.Request.Path = "/cancel").WaitAsync(KestrelTestApp.Timeout));

        Assert.Same(thrown[0], failed);
        Assert.Same(thrown[1], canceled);
    }
}
