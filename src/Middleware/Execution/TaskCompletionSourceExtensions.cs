namespace PartitionedHosting.Execution;

internal static class TaskCompletionSourceExtensions
{
    /// <summary>Completes <paramref name="completion"/> as <paramref name="task"/> completed.</summary>
    public static void TryCompleteFrom(this TaskCompletionSource completion, Task task)
    {
        if (task.IsCompletedSuccessfully)
        {
            completion.TrySetResult();
        }
        else if (task.IsCanceled)
        {
            try
            {
                task.GetAwaiter().GetResult();
            }
            catch (OperationCanceledException ex)
            {
                completion.TrySetCanceled(ex.CancellationToken);
            }
        }
        else
        {
            completion.TrySetException(task.Exception!.InnerExceptions);
        }
    }

    /// <summary>Completes <paramref name="completion"/> as <paramref name="task"/> completed.</summary>
    public static void TryCompleteFrom<T>(this TaskCompletionSource<T> completion, Task<T> task)
    {
        if (task.IsCompletedSuccessfully)
        {
            completion.TrySetResult(task.Result);
        }
        else if (task.IsCanceled)
        {
            try
            {
                task.GetAwaiter().GetResult();
            }
            catch (OperationCanceledException ex)
            {
                completion.TrySetCanceled(ex.CancellationToken);
            }
        }
        else
        {
            completion.TrySetException(task.Exception!.InnerExceptions);
        }
    }
}
