namespace PartitionedHosting;

/// <summary>Names of the built-in <see cref="IPartitionKeyPolicy"/> implementations.</summary>
public static class PartitionKeyPolicies
{
    /// <summary>
    /// Jump consistent hashing of the slot: even spread, and when the count grows to n only 1/n of the slots move
    /// (when it shrinks, only the removed partitions' slots). The default.
    /// </summary>
    public static string JumpHash => nameof(JumpHash);

    /// <summary>
    /// Rendezvous (highest random weight) hashing of the slot: the partition whose hash with the slot is highest wins.
    /// Even spread and minimal movement; costs one hash per partition and slot when the map is laid out.
    /// </summary>
    public static string Rendezvous => nameof(Rendezvous);
}
