namespace PartitionedHosting;

/// <summary>The outcome of reading a request's partition key.</summary>
/// <param name="Status">Whether the key was read.</param>
/// <param name="Key">The key, when <see cref="Status"/> is <see cref="PartitionKeyStatus.Found"/>.</param>
public readonly record struct PartitionKeyResult(PartitionKeyStatus Status, string? Key);
