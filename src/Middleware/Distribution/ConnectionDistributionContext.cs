using System.Net;

namespace PartitionedHosting;

/// <summary>What a <see cref="IConnectionDistributionPolicy"/> knows about a new connection.</summary>
/// <param name="RemoteEndPoint">The client's end point, when the transport knows it.</param>
/// <param name="Partitions">The partitions that take connections (all but the dedicated ones), in order of <see cref="IPartitionContext.Id"/>; never empty. The policy returns an index into this list.</param>
public readonly record struct ConnectionDistributionContext(EndPoint? RemoteEndPoint, IReadOnlyList<IPartitionContext> Partitions);
