using Microsoft.Extensions.Logging;
using PartitionedHosting.Diagnostics;

namespace PartitionedHosting.Partitions;

/// <summary>
/// The runtime's one periodic job, in the manner of Kestrel's heartbeat handlers: on every tick, a single-threaded
/// partition whose current segment has run past <c>Watchdog:StallThreshold</c> is marked stalled (and, past
/// <c>Watchdog:ReplaceStalledAfter</c>, replaced), a stalled one that moved on is marked recovered, an instance past its
/// lifetime (<c>Recycling:After</c>) is recycled, and the window of the turn outliers moves on.
/// </summary>
internal sealed class PartitionWatchdog(PartitionRuntime runtime, PartitionedHostingOptions options, ILogger logger) : IAsyncDisposable
{
    private ITimer? _timer;

    /// <summary>A quarter of the stall threshold, from 10 ms to 1 s: a stall is seen within a quarter of its threshold.</summary>
    public TimeSpan Period { get; } = TimeSpan.FromTicks(Math.Clamp(options.Watchdog.StallThreshold.Ticks / 4, TimeSpan.FromMilliseconds(10).Ticks, TimeSpan.TicksPerSecond));

    public void Start() => _timer = runtime.TimeProvider.CreateTimer(static w => ((PartitionWatchdog)w!).Tick(), this, Period, Period);

    public ValueTask DisposeAsync() => _timer?.DisposeAsync() ?? default;

    /// <summary>One look at every partition.</summary>
    public void Tick()
    {
        if (!runtime.IsRunning)
        {
            return;
        }

        var time = runtime.TimeProvider;
        foreach (var partition in runtime.Partitions)
        {
            var instance = partition.Current;
            partition.MoveTurnWindow(time);
            if (instance.Thread is { } thread)
            {
                var started = thread.TurnStartedAt;
                var turn = started == 0 ? TimeSpan.Zero : time.GetElapsedTime(started);
                if (turn > options.Watchdog.StallThreshold)
                {
                    partition.StalledFor = turn;
                    if (!partition.IsStalled)
                    {
                        partition.IsStalled = true;
                        Log.Stalled(logger, partition.Id, turn.TotalMilliseconds, instance.LastRequest ?? "(unknown)");
                    }

                    if (options.Watchdog.ReplaceStalledAfter is { } replaceAfter && turn > replaceAfter)
                    {
                        runtime.RequestRecycle(partition, instance, RecycleCause.Stalled);
                    }
                }
                else if (partition.IsStalled)
                {
                    partition.IsStalled = false;
                    Log.Recovered(logger, partition.Id, partition.StalledFor?.TotalMilliseconds ?? 0);
                }
            }

            if (instance.RecycleAfter is { } lifetime && time.GetElapsedTime(instance.StartedAt) > lifetime)
            {
                runtime.RequestRecycle(partition, instance, RecycleCause.Lifetime);
            }
        }
    }
}
