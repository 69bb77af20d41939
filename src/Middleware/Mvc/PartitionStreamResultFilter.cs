using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.Filters;
using PartitionedHosting.Execution;

namespace PartitionedHosting.Mvc;

/// <summary>
/// Keeps the async streams that MVC actions return on the partition's thread while MVC's output formatter enumerates
/// them (see <see cref="PartitionAsyncEnumerable{T}"/>).
/// </summary>
internal sealed class PartitionStreamResultFilter : IAsyncAlwaysRunResultFilter
{
    public Task OnResultExecutionAsync(ResultExecutingContext context, ResultExecutionDelegate next)
    {
        if (context.Result is ObjectResult { Value: { } value } result &&
            PartitionThread.Current is { } thread &&
            PartitionStreams.TryWrap(value, thread, out var wrapped, out var streamType))
        {
            result.Value = wrapped;

            // The formatter serializes the declared type when there is one: keep it an async stream's interface.
            if (result.DeclaredType is null || !result.DeclaredType.IsInstanceOfType(wrapped))
            {
                result.DeclaredType = streamType;
            }
        }

        return next();
    }
}
