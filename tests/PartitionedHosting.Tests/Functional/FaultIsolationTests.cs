using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using PartitionedHosting.Tests.Infrastructure;

namespace PartitionedHosting.Tests.Functional;

/// <summary>Faults inside a partition never crash the process: the partition is replaced, within a crash-loop guard.</summary>
public sealed class FaultIsolationTests
{
    [Fact]
    public async Task ExceptionsEscapingPostedWork_ReplaceThePartition_ThenTheCrashLoopGuardMarksItUnhealthy()
    {
        var settings = Settings.Partitioned(2, "SingleThreaded");
        settings["PartitionedHosting:Watchdog:CrashLoopMaxFailures"] = "3";
        settings["PartitionedHosting:Watchdog:CrashLoopWindow"] = "00:01:00";
        await using var app = await KestrelTestApp.StartAsync(
            settings,
            a =>
            {
                a.MapGet("/partition", (IPartitionContext p) => $"{p.Id} {p.Generation}");
                a.MapGet("/fault", () =>
                {
                    // An async void method's exception is posted to the partition's synchronization context.
                    SynchronizationContext.Current!.Post(_ => throw new InvalidOperationException("escaped"), null);
                    return "posted";
                });
                a.MapHealthChecks("/healthz");
            },
            configure: b => b.Services.AddHealthChecks().AddPartitionedHostingHealthCheck());
        var manager = app.Services.GetRequiredService<IPartitionManager>();
        var client = app.CreateClient();
        while (!(await client.GetStringAsync("/partition")).StartsWith("0 ", StringComparison.Ordinal))
        {
            client.Dispose();
            client = app.CreateClient();
        }

        using (client)
        {
            for (var fault = 1; fault <= 2; fault++)
            {
                Assert.Equal("posted", await client.GetStringAsync("/fault"));
                var expected = fault + 1;
                await KestrelTestApp.WaitUntilAsync(() => manager.GetSnapshots()[0].Generation == expected, $"fault {fault} replaces the partition");
                Assert.Equal(RecycleCause.Fault, manager.GetSnapshots()[0].LastRecycleCause);
            }

            Assert.Equal("posted", await client.GetStringAsync("/fault"));
            await KestrelTestApp.WaitUntilAsync(() => manager.GetSnapshots()[0].State == PartitionState.Unhealthy, "the third fault marks it unhealthy");
            Assert.Equal(3, manager.GetSnapshots()[0].Generation);

            // The process is fine: the connection's requests go to the healthy partition, health reports the loss.
            Assert.StartsWith("1 ", await client.GetStringAsync("/partition"), StringComparison.Ordinal);
            using var health = await client.GetAsync("/healthz");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);
            Assert.Equal("Unhealthy", await health.Content.ReadAsStringAsync());

            // An operator brings it back.
            await manager.RecycleAsync(0).WaitAsync(KestrelTestApp.Timeout);
            Assert.Equal(PartitionState.Running, manager.GetSnapshots()[0].State);
            Assert.StartsWith("0 4", await client.GetStringAsync("/partition"), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task AnUnhealthyPartition_IsTriedAgainAfterABackOff_ThatDoublesWhileItKeepsFailing()
    {
        var time = new FakeTimeProvider();
        var settings = Settings.Partitioned(2, "SingleThreaded");
        settings["PartitionedHosting:Watchdog:CrashLoopMaxFailures"] = "2";
        settings["PartitionedHosting:Watchdog:CrashLoopWindow"] = "00:01:00";
        await using var app = await KestrelTestApp.StartAsync(
            settings,
            a => a.MapGet("/partition", (IPartitionContext p) => $"{p.Id} {p.Generation}"),
            configure: b => b.Services.AddSingleton<TimeProvider>(time));
        var manager = app.Services.GetRequiredService<IPartitionManager>();
        var partition = app.Runtime.Partitions[0];

        async Task CrashLoopAsync()
        {
            for (var fault = 0; fault < 2; fault++)
            {
                var generation = partition.Generation;
                partition.Current.Thread!.Post(_ => throw new InvalidOperationException("escaped"), null);
                await KestrelTestApp.WaitUntilAsync(() => partition.Generation > generation || partition.State == PartitionState.Unhealthy, "the fault is handled");
            }

            Assert.Equal(PartitionState.Unhealthy, partition.State);
        }

        // First crash loop: tried again after one window.
        await CrashLoopAsync();
        var failed = partition.Generation;
        time.Advance(TimeSpan.FromSeconds(59));
        Assert.Equal(PartitionState.Unhealthy, partition.State);
        time.Advance(TimeSpan.FromSeconds(1));
        await KestrelTestApp.WaitUntilAsync(() => partition.Generation == failed + 1, "the partition is tried again");
        Assert.Equal(PartitionState.Running, partition.State);
        Assert.Equal(RecycleCause.CrashLoopRetry, manager.GetSnapshots()[0].LastRecycleCause);

        // Failing again at once: the next attempt waits twice as long.
        await CrashLoopAsync();
        failed = partition.Generation;
        time.Advance(TimeSpan.FromSeconds(60));
        Assert.Equal(PartitionState.Unhealthy, partition.State);
        time.Advance(TimeSpan.FromSeconds(60));
        await KestrelTestApp.WaitUntilAsync(() => partition.Generation == failed + 1, "the partition is tried again after two windows");
        Assert.Equal(PartitionState.Running, partition.State);
    }

    [Fact]
    public async Task AFailingStartedHook_IsAFault_AndTheProcessKeepsServing()
    {
        var attempts = 0;
        var settings = Settings.Partitioned(1, "SingleThreaded");
        settings["PartitionedHosting:Watchdog:CrashLoopMaxFailures"] = "2";
        await using var app = await KestrelTestApp.StartAsync(
            settings,
            a => a.MapGet("/partition", (IPartitionContext p) => p.Generation.ToString(CultureInfo.InvariantCulture)),
            p => p.Services.AddSingleton<IPartitionLifecycleHook>(_ => new FailingHook(() => Interlocked.Increment(ref attempts) == 1)));
        var manager = app.Services.GetRequiredService<IPartitionManager>();

        // The first instance's hook fails once: the partition is replaced by generation 2, whose hook succeeds.
        await KestrelTestApp.WaitUntilAsync(() => manager.GetSnapshots()[0].Generation == 2, "the failed start is replaced");
        using var client = app.CreateClient();
        Assert.Equal("2", await client.GetStringAsync("/partition"));
        Assert.Equal(PartitionState.Running, manager.GetSnapshots()[0].State);
    }

    private sealed class FailingHook(Func<bool> fail) : IPartitionLifecycleHook
    {
        public Task OnStartedAsync(IPartitionContext partition, CancellationToken cancellationToken) =>
            fail() ? throw new InvalidOperationException("hook failed") : Task.CompletedTask;

        public Task OnStoppingAsync(IPartitionContext partition, CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
