namespace PartitionedHosting;

/// <summary>How the partitioned server's connections reach their partitions.</summary>
public enum PartitionTransport
{
    /// <summary>
    /// Kestrel's own socket transport: the connection is assigned a partition when accepted, and each of its requests
    /// moves to the partition's thread (one queue hop per request in a single-threaded partition). The default.
    /// </summary>
    Kestrel,

    /// <summary>
    /// The partitioned transport (TCP end points): a connection's pipes and socket I/O resume on its partition's
    /// thread, so parsing and request code run there without a hop (thread per core). Pairs well with
    /// <c>DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1</c>, which lets socket completions reach the partition
    /// without passing through the thread pool. HTTP/2 streams still queue to the thread pool (a Kestrel design) and
    /// hop like with the default transport; an HTTP/2 connection's own I/O and frames move to the thread pool once its
    /// first request reaches the application, so that a stream holding the partition's thread does not hold up its
    /// other streams.
    /// </summary>
    Partitioned,
}
