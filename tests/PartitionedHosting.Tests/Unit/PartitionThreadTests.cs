using System.Collections.Concurrent;
using PartitionedHosting.Execution;

namespace PartitionedHosting.Tests.Unit;

public sealed class PartitionThreadTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task PostedWork_RunsInOrder_OnTheOneThread_WithThePartitionContext()
    {
        using var thread = new PartitionThread("test", _ => { });
        thread.Start();
        var seen = new ConcurrentQueue<(int Order, int Thread, bool Context)>();
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        for (var i = 0; i < 1000; i++)
        {
            thread.Post(state =>
            {
                seen.Enqueue(((int)state!, Environment.CurrentManagedThreadId, SynchronizationContext.Current == thread.Context));
                if ((int)state! == 999)
                {
                    done.SetResult();
                }
            }, i);
        }

        await done.Task.WaitAsync(s_timeout);
        Assert.Equal(Enumerable.Range(0, 1000), seen.Select(s => s.Order));
        Assert.All(seen, s => Assert.Equal(thread.ManagedThreadId, s.Thread));
        Assert.All(seen, s => Assert.True(s.Context));
    }

    [Fact]
    public async Task ManyConcurrentPosters_LoseNoWork_AndTheThreadWakesAfterIdling()
    {
        using var thread = new PartitionThread("test", _ => { });
        thread.Start();
        var count = 0;

        for (var round = 0; round < 20; round++)
        {
            var posters = Enumerable.Range(0, 4).Select(_ => Task.Run(() =>
            {
                for (var i = 0; i < 500; i++)
                {
                    thread.Post(_ => count++, null);
                }
            }));
            await Task.WhenAll(posters).WaitAsync(s_timeout);

            // Let the thread go idle between rounds, so that waking it is exercised too.
            var drained = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            thread.Post(_ => drained.SetResult(), null);
            await drained.Task.WaitAsync(s_timeout);
            await Task.Delay(1);
        }

        // count is incremented without synchronization: exact only because one thread runs all of it.
        Assert.Equal(20 * 4 * 500, count);
    }

    [Fact]
    public async Task AnExceptionInPostedWork_IsReported_AndTheThreadGoesOn()
    {
        var reported = new TaskCompletionSource<Exception>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var thread = new PartitionThread("test", ex => reported.TrySetResult(ex));
        thread.Start();
        var after = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        thread.Post(_ => throw new InvalidOperationException("boom"), null);
        thread.Post(_ => after.SetResult(), null);

        Assert.Equal("boom", (await reported.Task.WaitAsync(s_timeout)).Message);
        await after.Task.WaitAsync(s_timeout);
    }

    [Fact]
    public async Task AwaitInsidePostedWork_ResumesOnThePartitionThread()
    {
        using var thread = new PartitionThread("test", _ => { });
        thread.Start();
        var result = new TaskCompletionSource<(int Before, int After)>(TaskCreationOptions.RunContinuationsAsynchronously);

        thread.Post(async _ =>
        {
            var before = Environment.CurrentManagedThreadId;
            await Task.Delay(10);
            result.SetResult((before, Environment.CurrentManagedThreadId));
        }, null);

        var (before, after) = await result.Task.WaitAsync(s_timeout);
        Assert.Equal(thread.ManagedThreadId, before);
        Assert.Equal(thread.ManagedThreadId, after);
    }
}
