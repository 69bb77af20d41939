using System.Net;
using Microsoft.AspNetCore.Http;
using PartitionedHosting.Diagnostics;

namespace PartitionedHosting.Partitions;

/// <summary>Choosing partitions: for a new connection, for a request without one, around unavailable ones, and a key's owner.</summary>
internal sealed partial class PartitionRuntime
{
    /// <summary>
    /// Picks the partition of a new connection with the configured distribution policy, among the partitions that are
    /// not dedicated, avoiding unavailable ones.
    /// </summary>
    /// <remarks>
    /// A policy that throws or returns an index out of range is logged, and the connection goes to the partitions in
    /// turn: a faulty policy must not stop the server from accepting.
    /// </remarks>
    public Partition SelectPartition(EndPoint? remoteEndPoint)
    {
        var partitions = _general;
        int index;
        try
        {
            index = _distribution.SelectPartition(new ConnectionDistributionContext(remoteEndPoint, partitions));
        }
        catch (Exception ex)
        {
            return SelectInTurn(partitions, ex);
        }

        return (uint)index < (uint)partitions.Length
            ? AvailableFrom(partitions[index])
            : SelectInTurn(partitions, new InvalidOperationException(
                $"Connection distribution policy '{_distribution.Name}' returned index {index}; valid indexes are 0 to {partitions.Length - 1}."));
    }

    private Partition SelectInTurn(Partition[] partitions, Exception policyFailure)
    {
        var partition = partitions[(int)((uint)Interlocked.Increment(ref _spread) % (uint)partitions.Length)];
        Log.DistributionPolicyFailed(_logger, _distribution.Name, partition.Id, policyFailure);
        return AvailableFrom(partition);
    }

    /// <summary>
    /// Picks the partition of a request that came without one (under <c>TestServer</c>, or a server other than the
    /// partitioned one): the request is treated as a connection of its own.
    /// </summary>
    public Partition SelectPartition(HttpContext context)
    {
        var connection = context.Connection;
        var remote = connection.RemoteIpAddress is { } address ? new IPEndPoint(address, connection.RemotePort) : null;
        return SelectPartition(remote);
    }

    /// <summary>
    /// <paramref name="partition"/> if it is available, else one of the available others, in turn, so that the traffic
    /// of an unavailable partition spreads over all of them; when none is, the partition itself (its queue then decides).
    /// </summary>
    public Partition AvailableFrom(Partition partition)
    {
        if (partition.IsAvailable)
        {
            return partition;
        }

        var partitions = _general;
        var start = (uint)Interlocked.Increment(ref _spread);
        for (var step = 0; step < partitions.Length; step++)
        {
            var candidate = partitions[(int)((start + (uint)step) % (uint)partitions.Length)];
            if (candidate.IsAvailable)
            {
                return candidate;
            }
        }

        return partition;
    }

    /// <summary>The partition that owns <paramref name="key"/> now, by the key map (the old owner while its slot moves).</summary>
    public Partition GetOwner(ReadOnlySpan<char> key) => _slots.GetOwner(PartitionKeySlots.GetSlot(key));
}
