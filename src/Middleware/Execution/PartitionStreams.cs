using System.Collections.Concurrent;
using System.Reflection;

namespace PartitionedHosting.Execution;

/// <summary>
/// Wraps the async streams request code hands to the framework (<see cref="IAsyncEnumerable{T}"/> of any element
/// type) so that the framework's enumeration of them runs on the partition's thread (see
/// <see cref="PartitionAsyncEnumerable{T}"/>).
/// </summary>
internal static class PartitionStreams
{
    private static readonly ConcurrentDictionary<Type, Func<object, PartitionThread, object>?> s_wrappers = new();
    private static readonly MethodInfo s_wrap = typeof(PartitionStreams).GetMethod(nameof(Wrap), BindingFlags.NonPublic | BindingFlags.Static)!;

    /// <summary>
    /// The stream's element type's <see cref="IAsyncEnumerable{T}"/> interface, when <paramref name="type"/> is an async
    /// stream; <see langword="null"/> otherwise.
    /// </summary>
    public static Type? GetAsyncEnumerableInterface(Type type)
    {
        if (type.IsInterface && type.IsGenericType && type.GetGenericTypeDefinition() == typeof(IAsyncEnumerable<>))
        {
            return type;
        }

        foreach (var candidate in type.GetInterfaces())
        {
            if (candidate.IsGenericType && candidate.GetGenericTypeDefinition() == typeof(IAsyncEnumerable<>))
            {
                return candidate;
            }
        }

        return null;
    }

    /// <summary>
    /// Wraps <paramref name="value"/> when it is an async stream not wrapped yet; returns whether it did, and the
    /// stream interface the wrapper implements.
    /// </summary>
    public static bool TryWrap(object value, PartitionThread thread, out object wrapped, out Type? streamType)
    {
        var wrap = s_wrappers.GetOrAdd(value.GetType(), static type =>
        {
            if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(PartitionAsyncEnumerable<>))
            {
                return null;
            }

            return GetAsyncEnumerableInterface(type) is { } stream
                ? s_wrap.MakeGenericMethod(stream.GetGenericArguments()[0]).CreateDelegate<Func<object, PartitionThread, object>>()
                : null;
        });

        if (wrap is null)
        {
            wrapped = value;
            streamType = null;
            return false;
        }

        wrapped = wrap(value, thread);
        streamType = GetAsyncEnumerableInterface(value.GetType());
        return true;
    }

    private static object Wrap<T>(object source, PartitionThread thread) => new PartitionAsyncEnumerable<T>((IAsyncEnumerable<T>)source, thread);
}
