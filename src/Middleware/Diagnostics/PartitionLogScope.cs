using System.Collections;

namespace PartitionedHosting.Diagnostics;

/// <summary>
/// The logging scope of a request in a partition: <c>PartitionId</c> and <c>PartitionGeneration</c> as structured
/// fields of every log written during the request. One instance per partition instance, so that beginning the scope
/// allocates nothing of ours.
/// </summary>
internal sealed class PartitionLogScope(int partitionId, int generation) : IReadOnlyList<KeyValuePair<string, object?>>
{
    private readonly KeyValuePair<string, object?>[] _fields =
    [
        new("PartitionId", partitionId),
        new("PartitionGeneration", generation),
    ];

    public int Count => _fields.Length;

    public KeyValuePair<string, object?> this[int index] => _fields[index];

    public IEnumerator<KeyValuePair<string, object?>> GetEnumerator() => ((IEnumerable<KeyValuePair<string, object?>>)_fields).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public override string ToString() => $"Partition {_fields[0].Value} (generation {_fields[1].Value})";
}
