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
}
