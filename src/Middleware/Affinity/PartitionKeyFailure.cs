namespace PartitionedHosting;

/// <summary>What happens to a request of a keyed endpoint whose key is missing or unreadable.</summary>
public enum PartitionKeyFailure
{
    /// <summary>Answer <c>400 Bad Request</c>: the client did not send a usable key. The default.</summary>
    BadRequest,

    /// <summary>Answer <c>503 Service Unavailable</c> with <c>Retry-After</c>.</summary>
    ServiceUnavailable,

    /// <summary>Run the endpoint on the partition the request is already on (its connection's).</summary>
    RunOnCurrentPartition,
}
