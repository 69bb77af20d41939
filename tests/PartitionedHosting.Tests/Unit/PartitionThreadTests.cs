using System.Collections.Concurrent;
using PartitionedHosting.Execution;

namespace PartitionedHosting.Tests.Unit;

public sealed class PartitionThreadTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task TheFirstRequestOfATurnThatResumedAConnection_RunsInline_HoweverLongTheTurnTookToReachIt()
    {
        // A turn that resumed a connection's pipe (PostAction, as the transport's reads and the server's parsing do) and
        // spent longer than the quantum before its first request (reading and parsing it, compiling code on a cold
        // start) still runs that request inline; only the requests after it are held to the quantum.
        using var thread = new PartitionThread("test", _ => { });
        thread.Start();
        var quantum = TimeSpan.FromMilliseconds(1);
        var answers = new TaskCompletionSource<(bool First, bool Second, bool NextTurnFirst)>(TaskCreationOptions.RunContinuationsAsynchronously);
        thread.PostAction(_ =>
        {
            Thread.Sleep(20);
            var first = thread.TryRunInline(quantum);
            var second = thread.TryRunInline(quantum);
            thread.PostAction(_ =>
            {
                // The count starts over with each turn.
                Thread.Sleep(20);
                answers.SetResult((first, second, thread.TryRunInline(quantum)));
            }, null);
        }, null);

        var (first, second, nextTurnFirst) = await answers.Task.WaitAsync(s_timeout);
        Assert.True(first);
        Assert.False(second);
        Assert.True(nextTurnFirst);
    }

    [Fact]
    public async Task ARequestParsedInATurnThatRanOtherWork_RunsInlineOnlyWithinTheQuantum()
    {
        // A turn that ran a queued request or a continuation (Post) for longer than the quantum, after which the server
        // parses the connection's next request on the same thread: that request queues behind the partition's other work.
        using var thread = new PartitionThread("test", _ => { });
        thread.Start();
        var quantum = TimeSpan.FromMilliseconds(1);
        var answers = new TaskCompletionSource<(bool Quick, bool Long)>(TaskCreationOptions.RunContinuationsAsynchronously);
        thread.Post(_ =>
        {
            var quick = thread.TryRunInline(quantum);
            thread.Post(_ =>
            {
                Thread.Sleep(20);
                answers.SetResult((quick, thread.TryRunInline(quantum)));
            }, null);
        }, null);

        var (quick, late) = await answers.Task.WaitAsync(s_timeout);
        Assert.True(quick);
        Assert.False(late);
    }

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

    [Fact]
    public async Task ResumeOnThreadPool_WorkPostedWhileTheThreadSleeps_RunsOnThePoolUnderTheTurn_WithThePartitionContext()
    {
        using var thread = new PartitionThread("test", _ => { }) { ResumeOnThreadPool = true };
        thread.Start();

        // The thread must be asleep when the work arrives: a few tries, since nothing here tells when it fell asleep.
        (int Thread, bool Current, bool Context, bool TurnTaken)? seen = null;
        for (var attempt = 0; attempt < 50 && (seen is null || seen.Value.Thread == thread.ManagedThreadId); attempt++)
        {
            await Task.Delay(20);
            var ran = new TaskCompletionSource<(int, bool, bool, bool)>(TaskCreationOptions.RunContinuationsAsynchronously);
            await Task.Run(() => thread.Post(_ =>
            {
                // Someone else wanting the turn must wait while the stand-in holds it.
                // (A thread of its own: the thread pool may be too busy to start a work item in time.)
                var other = new Thread(() =>
                {
                    thread.Turn.EnterOtherThread();
                    thread.Turn.ExitOtherThread();
                });
                other.Start();
                var taken = other.Join(TimeSpan.FromMilliseconds(200));
                ran.SetResult((Environment.CurrentManagedThreadId, thread.IsCurrent, SynchronizationContext.Current == thread.Context, taken));
            }, null));
            seen = await ran.Task.WaitAsync(s_timeout);
        }

        Assert.NotNull(seen);
        var (onThread, current, context, turnTaken) = seen.Value;
        Assert.NotEqual(thread.ManagedThreadId, onThread);
        Assert.True(current, "The stand-in did not present itself as the partition's thread.");
        Assert.True(context, "The stand-in did not run with the partition's synchronization context.");
        Assert.False(turnTaken, "Another thread took the turn while the stand-in ran the partition's work.");
    }

    [Fact]
    public async Task ResumeOnThreadPool_ConcurrentPostersAcrossIdlePeriods_KeepOrderAndLoseNothing_OneAtATime()
    {
        using var thread = new PartitionThread("test", _ => { }) { ResumeOnThreadPool = true };
        thread.Start();
        var count = 0;
        var inside = 0;
        var overlaps = 0;
        var threads = new ConcurrentDictionary<int, bool>();
        const int Posters = 4, Rounds = 20, PerRound = 200;
        var last = new int[Posters];
        var outOfOrder = 0;

        for (var round = 0; round < Rounds; round++)
        {
            var posters = Enumerable.Range(0, Posters).Select(poster => Task.Run(() =>
            {
                for (var i = 0; i < PerRound; i++)
                {
                    var sequence = round * PerRound + i + 1;
                    thread.Post(_ =>
                    {
                        if (Interlocked.Increment(ref inside) != 1)
                        {
                            Interlocked.Increment(ref overlaps);
                        }

                        threads.TryAdd(Environment.CurrentManagedThreadId, true);
                        if (last[poster] != sequence - 1)
                        {
                            outOfOrder++;
                        }

                        last[poster] = sequence;
                        count++;
                        Interlocked.Decrement(ref inside);
                    }, null);
                    if (i % 50 == 0)
                    {
                        // Pauses, so that the thread falls asleep in the middle of the posts.
                        Thread.Sleep(1);
                    }
                }
            }));
            await Task.WhenAll(posters).WaitAsync(s_timeout);

            var drained = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            thread.Post(_ => drained.SetResult(), null);
            await drained.Task.WaitAsync(s_timeout);
            await Task.Delay(2);
        }

        // count and last are written without synchronization: exact only if one segment runs at a time.
        Assert.Equal(0, overlaps);
        Assert.Equal(0, outOfOrder);
        Assert.Equal(Posters * Rounds * PerRound, count);
        Assert.True(threads.Count > 1, "No work ran on a stand-in: the test did not exercise it.");
    }

    [Fact]
    public async Task ResumeOnThreadPool_KeepsOrder_WhenTheStandInCannotTakeTheTurnAtOnce()
    {
        using var thread = new PartitionThread("test", _ => { }) { ResumeOnThreadPool = true };
        thread.Start();
        for (var attempt = 0; attempt < 20; attempt++)
        {
            await Task.Delay(20);

            // Someone else holds the turn (a guarded flow): the stand-in for A must not put A behind B.
            using var holding = new ManualResetEventSlim();
            using var release = new ManualResetEventSlim();
            var holder = new Thread(() =>
            {
                thread.Turn.EnterOtherThread();
                holding.Set();
                release.Wait(s_timeout);
                thread.Turn.ExitOtherThread();
            });
            holder.Start();
            Assert.True(holding.Wait(s_timeout));

            var order = new ConcurrentQueue<string>();
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            await Task.Run(() =>
            {
                thread.Post(_ => order.Enqueue("A"), null);
                thread.Post(_ =>
                {
                    order.Enqueue("B");
                    done.SetResult();
                }, null);
            });
            await Task.Delay(5);
            release.Set();
            await done.Task.WaitAsync(s_timeout);
            Assert.True(holder.Join(s_timeout));
            Assert.Equal(["A", "B"], order);
        }
    }

    [Fact]
    public async Task ResumeOnThreadPool_StoppingTheThread_LosesNoPostedWork()
    {
        var thread = new PartitionThread("test", _ => { }) { ResumeOnThreadPool = true };
        thread.Start();
        var ran = 0;
        var posted = 0;
        await Task.Delay(20);

        var posters = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            for (var i = 0; i < 200; i++)
            {
                thread.Post(_ => Interlocked.Increment(ref ran), null);
                Interlocked.Increment(ref posted);
                if (i % 20 == 0)
                {
                    await Task.Delay(1);
                }
            }
        })).ToList();
        await Task.Delay(5);
        thread.Dispose();
        await thread.Exited.WaitAsync(s_timeout);
        await Task.WhenAll(posters).WaitAsync(s_timeout);

        // Work posted after the end goes to the thread pool: wait for it, bounded.
        var deadline = DateTime.UtcNow + s_timeout;
        while (Volatile.Read(ref ran) < posted && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }

        Assert.Equal(posted, Volatile.Read(ref ran));
    }
}
