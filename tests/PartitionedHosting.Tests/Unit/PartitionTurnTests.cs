using PartitionedHosting.Execution;

namespace PartitionedHosting.Tests.Unit;

/// <summary>The partition's turn: one holder at a time, between the partition's thread and other threads.</summary>
public sealed class PartitionTurnTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task ThePartitionThreadAndOtherThreads_NeverHoldTheTurnTogether_AndNoneStarves()
    {
        using var thread = new PartitionThread("test", _ => { });
        thread.Start();
        var inside = 0;
        var overlaps = 0;
        long partitionSegments = 0, otherSegments = 0;

        void Segment(ref long count)
        {
            if (Interlocked.Increment(ref inside) != 1)
            {
                Interlocked.Increment(ref overlaps);
            }

            Thread.SpinWait(200);
            count++;
            Interlocked.Decrement(ref inside);
        }

        // The partition's thread is kept busy by work that posts more work, while four other threads take turns.
        using var stop = new CancellationTokenSource();
        void Busy(object? _)
        {
            Segment(ref partitionSegments);
            if (!stop.IsCancellationRequested)
            {
                thread.Post(Busy, null);
            }
        }

        thread.Post(Busy, null);
        var others = Enumerable.Range(0, 4).Select(_ => Task.Run(() =>
        {
            for (var i = 0; i < 500; i++)
            {
                Assert.True(thread.Turn.EnterOtherThread());
                Segment(ref otherSegments);
                thread.Turn.ExitOtherThread();
            }
        }));

        await Task.WhenAll(others).WaitAsync(s_timeout);
        stop.Cancel();
        var drained = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        thread.Post(_ => drained.SetResult(), null);
        await drained.Task.WaitAsync(s_timeout);

        Assert.Equal(0, overlaps);
        Assert.Equal(2000, otherSegments);
        Assert.True(partitionSegments > 0);
    }

    [Fact]
    public async Task ATurnTakenTwiceByOneThread_IsGivenBackAfterTheSecondExit()
    {
        using var thread = new PartitionThread("test", _ => { });
        thread.Start();
        var ran = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        // On one thread throughout: a turn belongs to the thread that took it.
        var other = new Thread(() =>
        {
            Assert.True(thread.Turn.EnterOtherThread());
            Assert.True(thread.Turn.EnterOtherThread());
            thread.Post(_ => ran.SetResult(), null);
            thread.Turn.ExitOtherThread();
            Thread.Sleep(50);
            Assert.False(ran.Task.IsCompleted);
            Assert.True(thread.Turn.IsHeldByCurrentThread);
            thread.Turn.ExitOtherThread();
            Assert.False(thread.Turn.IsHeldByCurrentThread);
        });
        other.Start();

        await ran.Task.WaitAsync(s_timeout);
        Assert.True(other.Join(s_timeout));
    }

    [Fact]
    public async Task AThreadHoldingOneTurn_DoesNotWaitForAnother_SoTwoTurnsCannotDeadlock()
    {
        using var first = new PartitionThread("first", _ => { });
        using var second = new PartitionThread("second", _ => { });
        first.Start();
        second.Start();
        using var release = new ManualResetEventSlim();
        var busy = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        second.Post(_ =>
        {
            busy.SetResult();
            release.Wait(s_timeout);
        }, null);
        await busy.Task.WaitAsync(s_timeout);

        var taken = await Task.Run(() =>
        {
            Assert.True(first.Turn.EnterOtherThread());
            try
            {
                return second.Turn.EnterOtherThread();
            }
            finally
            {
                first.Turn.ExitOtherThread();
            }
        }).WaitAsync(s_timeout);

        release.Set();
        Assert.False(taken);
    }

    [Fact]
    public void ATurnHeldByAnotherThread_CountsAsTheCurrentTurn_ForTheWatchdog()
    {
        using var thread = new PartitionThread("test", _ => { });
        thread.Start();

        Assert.True(thread.Turn.EnterOtherThread());
        Assert.NotEqual(0, thread.TurnStartedAt);
        thread.Turn.ExitOtherThread();

        Assert.Equal(0, thread.TurnStartedAt);
    }

    [Fact]
    public async Task AfterThePartitionThreadEnds_OtherThreadsStillTakeTurnsOneAtATime()
    {
        var thread = new PartitionThread("test", _ => { });
        thread.Start();
        thread.Dispose();
        var inside = 0;
        var overlaps = 0;

        await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() =>
        {
            for (var i = 0; i < 200; i++)
            {
                Assert.True(thread.Turn.EnterOtherThread());
                if (Interlocked.Increment(ref inside) != 1)
                {
                    Interlocked.Increment(ref overlaps);
                }

                Thread.SpinWait(100);
                Interlocked.Decrement(ref inside);
                thread.Turn.ExitOtherThread();
            }
        }))).WaitAsync(s_timeout);

        Assert.Equal(0, overlaps);
    }
}
