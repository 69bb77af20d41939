using PartitionedHosting.Diagnostics;

namespace PartitionedHosting.Partitions;

/// <summary>The watchdog's tick: stalls of single-threaded partitions, and lifetimes.</summary>
internal sealed partial class PartitionRuntime
{
    /// <summary>The watchdog's tick: stalls of single-threaded partitions, and lifetimes.</summary>
    private void Watch()
    {
        if (!_running)
        {
            return;
        }

        foreach (var partition in _partitions)
        {
            var instance = partition.Current;
            if (instance.Thread is { } thread)
            {
                var started = thread.TurnStartedAt;
                var turn = started == 0 ? TimeSpan.Zero : TimeProvider.GetElapsedTime(started);
                if (turn > _options.StallThreshold)
                {
                    partition.StalledFor = turn;
                    if (!partition.IsStalled)
                    {
                        partition.IsStalled = true;
                        Log.Stalled(_logger, partition.Id, turn.TotalMilliseconds, instance.LastRequest ?? "(unknown)");
                    }

                    if (_options.ReplaceStalledAfter is { } replaceAfter && turn > replaceAfter)
                    {
                        RequestRecycle(partition, instance, RecycleCause.Stalled);
                    }
                }
                else if (partition.IsStalled)
                {
                    partition.IsStalled = false;
                    Log.Recovered(_logger, partition.Id, partition.StalledFor?.TotalMilliseconds ?? 0);
                }
            }

            if (instance.RecycleAfter is { } lifetime && TimeProvider.GetElapsedTime(instance.StartedAt) > lifetime)
            {
                RequestRecycle(partition, instance, RecycleCause.Lifetime);
            }
        }
    }
}
