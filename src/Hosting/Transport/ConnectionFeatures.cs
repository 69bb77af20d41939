using System.Collections;
using Microsoft.AspNetCore.Http.Features;

namespace PartitionedHosting.Transport;

/// <summary>
/// The feature collection of a <see cref="PartitionSocketConnection"/>: its own features answered from fields, the few
/// the server adds (heartbeat, completion, metrics, the partition) kept in a small array instead of a dictionary, as
/// Kestrel's transport connections do, since every idle connection keeps one.
/// </summary>
internal sealed class ConnectionFeatures(object connection, Type[] ownTypes) : IFeatureCollection
{
    // Set in place of one of the connection's own features that was set to null: it is gone.
    private static readonly object s_removed = new();

    private KeyValuePair<Type, object>[] _added = new KeyValuePair<Type, object>[8];
    private int _count;
    private int _revision;

    public bool IsReadOnly => false;

    public int Revision => _revision;

    public object? this[Type key]
    {
        get
        {
            for (var i = 0; i < _count; i++)
            {
                if (_added[i].Key == key)
                {
                    return ReferenceEquals(_added[i].Value, s_removed) ? null : _added[i].Value;
                }
            }

            return Array.IndexOf(ownTypes, key) >= 0 ? connection : null;
        }
        set
        {
            _revision++;

            // Removing one of the connection's own features masks it.
            if (value is null && Array.IndexOf(ownTypes, key) >= 0)
            {
                value = s_removed;
            }

            for (var i = 0; i < _count; i++)
            {
                if (_added[i].Key == key)
                {
                    if (value is null)
                    {
                        _added[i] = _added[--_count];
                        _added[_count] = default;
                    }
                    else
                    {
                        _added[i] = new(key, value);
                    }

                    return;
                }
            }

            if (value is null)
            {
                return;
            }

            if (_count == _added.Length)
            {
                Array.Resize(ref _added, _count * 2);
            }

            _added[_count++] = new(key, value);
        }
    }

    public TFeature? Get<TFeature>() => (TFeature?)this[typeof(TFeature)];

    public void Set<TFeature>(TFeature? instance) => this[typeof(TFeature)] = instance;

    public IEnumerator<KeyValuePair<Type, object>> GetEnumerator()
    {
        for (var i = 0; i < _count; i++)
        {
            if (!ReferenceEquals(_added[i].Value, s_removed))
            {
                yield return _added[i];
            }
        }

        foreach (var type in ownTypes)
        {
            if (!Contains(type))
            {
                yield return new(type, connection);
            }
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    private bool Contains(Type type)
    {
        for (var i = 0; i < _count; i++)
        {
            if (_added[i].Key == type)
            {
                return true;
            }
        }

        return false;
    }
}
