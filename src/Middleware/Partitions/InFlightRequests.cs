using System.Collections.Concurrent;

namespace PartitionedHosting.Partitions;

/// <summary>
/// The pool of <see cref="InFlightRequest"/> nodes, one for the process, and the list of every node it ever made, which
/// an instance's drain scans when it times out (rare) so that starting and ending a request take no lock.
/// </summary>
/// <remarks>
/// The pool never drops a node, so it holds as many as were ever in flight at once, as Kestrel's memory pool holds its
/// blocks. A per-thread cache of the last node returned was tried and dropped: HTTP/2 on single-threaded partitions
/// measured slower with it (requests there may start and end on different threads, so such caches fill on one side and
/// miss on the other).
/// </remarks>
internal static class InFlightRequests
{
    private static readonly ConcurrentQueue<InFlightRequest> s_free = new();
    private static readonly Lock s_growLock = new();
    private static InFlightRequest[] s_all = [];
    private static int s_count;

    public static InFlightRequest Rent() => s_free.TryDequeue(out var free) ? free : Create();

    public static void Return(InFlightRequest request)
    {
        request.TryReset();
        s_free.Enqueue(request);
    }

    /// <summary>Aborts every request <paramref name="instance"/> still runs; returns how many there were.</summary>
    public static int AbortAll(PartitionInstance instance)
    {
        var all = Volatile.Read(ref s_all);
        var count = Math.Min(Volatile.Read(ref s_count), all.Length);
        var aborted = 0;
        for (var i = 0; i < count; i++)
        {
            if (all[i] is { } request && request.TryAbort(instance))
            {
                aborted++;
            }
        }

        return aborted;
    }

    private static InFlightRequest Create()
    {
        var request = new InFlightRequest();
        lock (s_growLock)
        {
            var all = s_all;
            if (s_count == all.Length)
            {
                Array.Resize(ref all, Math.Max(64, all.Length * 2));
                Volatile.Write(ref s_all, all);
            }

            all[s_count] = request;
            Volatile.Write(ref s_count, s_count + 1);
        }

        return request;
    }
}
