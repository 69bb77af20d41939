using System.Collections.Concurrent;
using PartitionedHosting.Execution;
using PartitionedHosting.Partitions;

namespace PartitionedHosting.Tests.Infrastructure;

/// <summary>
/// A partition-local recorder of the synchronous segments of request code: request code calls <see cref="Segment"/>
/// between its awaits, and the recorder notes on which thread each segment ran, whether it ran in the partition's turn
/// (no other segment of the partition inside at the same moment), and whether the partition's services reached it.
/// </summary>
/// <remarks>
/// Registered as a partition-local singleton, so that a segment that ran with another partition's services, or with
/// the application's, shows up as a segment recorded by the wrong partition (<see cref="ForeignSegments"/>).
/// </remarks>
internal sealed class SegmentRecorder(IPartitionContext partition)
{
    private readonly ConcurrentDictionary<int, string> _threads = new();
    private readonly ConcurrentQueue<string> _problems = new();
    private int _inside;
    private int _overlaps;
    private long _segments;
    private int _foreignSegments;
    private int _turnSegments;

    public IPartitionContext Partition => partition;

    public int Overlaps => Volatile.Read(ref _overlaps);

    public long Segments => Interlocked.Read(ref _segments);

    /// <summary>Segments that ran on a partition's thread other than this partition's (or, free-threaded, on any).</summary>
    public int ForeignSegments => Volatile.Read(ref _foreignSegments);

    /// <summary>Segments that ran off the partition's thread, holding its turn.</summary>
    public int TurnSegments => Volatile.Read(ref _turnSegments);

    /// <summary>The threads segments ran on, with the first segment seen on each.</summary>
    public IReadOnlyDictionary<int, string> Threads => _threads;

    /// <summary>Records one synchronous segment of request code, named <paramref name="where"/>.</summary>
    public void Segment(string where)
    {
        if (Interlocked.Increment(ref _inside) != 1)
        {
            Interlocked.Increment(ref _overlaps);
            Problem($"'{where}' overlapped another segment");
        }

        _threads.TryAdd(Environment.CurrentManagedThreadId, where);
        var thread = PartitionThread.Current;
        var expected = ((PartitionInstance)partition).Thread;
        if (thread != expected && expected is not null && expected.Turn.IsHeldByCurrentThread)
        {
            // Off the partition's thread, under its turn: the guarantee of seams the framework gives no hook for.
            Interlocked.Increment(ref _turnSegments);
        }
        else if (thread != expected || (expected is not null && SynchronizationContext.Current is not PartitionSynchronizationContext))
        {
            Interlocked.Increment(ref _foreignSegments);
            Problem($"'{where}' ran on {(thread is null ? "no partition thread" : $"partition thread {thread.ManagedThreadId}")} with {SynchronizationContext.Current?.GetType().Name ?? "no synchronization context"}");
        }

        // Long enough that two segments running at once would meet here.
        Thread.SpinWait(300);
        Interlocked.Decrement(ref _inside);
        Interlocked.Increment(ref _segments);
    }

    /// <summary>
    /// Asserts the guarantee of the partition's mode, and that the seam ran at all: for a single-threaded partition, one
    /// segment at a time, on its thread; or, where <paramref name="onThread"/> is false (seams the framework gives no
    /// hook for), one segment at a time, each on its thread or under its turn.
    /// </summary>
    public void AssertHeld(string seam, bool onThread = true)
    {
        Assert.True(Segments > 0, $"{seam}: partition {partition.Id} recorded no segment; the test did not exercise it.");
        var problems = string.Join("; ", _problems.Take(5));
        Assert.True(ForeignSegments == 0, $"{seam}: partition {partition.Id} ({partition.Mode}) had {ForeignSegments} segments off its execution context: {problems}");
        if (partition.Mode == ExecutionMode.SingleThreaded)
        {
            Assert.True(Overlaps == 0, $"{seam}: partition {partition.Id} had {Overlaps} overlapping segments: {problems}");
            if (onThread)
            {
                Assert.True(TurnSegments == 0, $"{seam}: partition {partition.Id} ran {TurnSegments} segments off its thread (under its turn)");
                Assert.True(_threads.Count == 1, $"{seam}: partition {partition.Id} ran on {_threads.Count} threads: {string.Join(", ", _threads.Select(t => $"{t.Key} ('{t.Value}')"))}");
            }
        }
    }

    private void Problem(string problem)
    {
        if (_problems.Count < 20)
        {
            _problems.Enqueue(problem);
        }
    }
}

/// <summary>The partition layouts of the guarantee matrix.</summary>
internal static class SeamLayouts
{
    public const string SingleThreaded = nameof(SingleThreaded);
    public const string FreeThreaded = nameof(FreeThreaded);

    /// <summary>Three partitions: 0 and 2 single-threaded, 1 free-threaded.</summary>
    public const string Mixed = nameof(Mixed);

    public static TheoryData<string> All => [SingleThreaded, FreeThreaded, Mixed];

    public static Dictionary<string, string?> Settings(string layout)
    {
        if (layout != Mixed)
        {
            return Infrastructure.Settings.Partitioned(2, layout);
        }

        var settings = Infrastructure.Settings.Partitioned(3, SingleThreaded);
        settings["PartitionedHosting:Partitions:1:Mode"] = FreeThreaded;
        return settings;
    }

    /// <summary>Every partition's recorder, after the load: each must have held its mode's guarantee.</summary>
    public static void AssertHeld(KestrelTestApp app, string seam, bool everyPartition = true, bool onThread = true)
    {
        var recorders = app.Runtime.Partitions.Select(p => p.Current.Services.GetService(typeof(SegmentRecorder)) as SegmentRecorder).ToList();
        foreach (var recorder in recorders)
        {
            Assert.NotNull(recorder);
            if (everyPartition || recorder.Segments > 0)
            {
                recorder.AssertHeld(seam, onThread);
            }
        }

        Assert.Contains(recorders, r => r!.Segments > 0);
    }
}
