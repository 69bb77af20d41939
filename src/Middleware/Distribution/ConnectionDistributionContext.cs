using System.Net;
using PartitionedHosting.Partitions;

namespace PartitionedHosting.Distribution;

/// <summary>What a <see cref="IConnectionDistributionPolicy"/> knows about a new connection.</summary>
/// <param name="RemoteEndPoint">The client's end point, when the transport knows it.</param>
/// <param name="Partitions">The partitions, indexed by <see cref="IPartitionContext.Id"/>; never empty.</param>
public readonly record struct ConnectionDistributionContext(EndPoint? RemoteEndPoint, IReadOnlyList<IPartitionContext> Partitions);
