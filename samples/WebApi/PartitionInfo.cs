namespace WebApi;

/// <summary>What <c>GET /partition</c> answers.</summary>
/// <param name="Partition">The id of the partition that served the request.</param>
/// <param name="PartitionCount">The number of partitions.</param>
/// <param name="Mode">The partition's execution mode.</param>
/// <param name="Thread">The managed thread id the endpoint ran on.</param>
/// <param name="Instance">The id of the partition's own <see cref="PartitionStats"/> instance.</param>
/// <param name="Requests">The number of requests this partition has served.</param>
/// <param name="Time">The time, from the shared <see cref="TimeProvider"/>.</param>
public sealed record PartitionInfo(int Partition, int PartitionCount, string Mode, int Thread, int Instance, long Requests, DateTimeOffset Time);
