using System.Runtime.CompilerServices;

namespace PartitionedHosting.Execution;

/// <summary>
/// Marks an execution flow (an <see cref="ExecutionContext"/>: a request and everything it awaits or starts) as request
/// code of a single-threaded partition, and sees, through an <see cref="AsyncLocal{T}"/> change notification, every
/// time that flow starts to run on a thread other than the partition's.
/// </summary>
/// <remarks>
/// <para>
/// A <em>guarded</em> flow is one where the framework itself runs request code off the partition's thread with no
/// hook to bring it back (System.Text.Json enumerating an async stream after its own <c>ConfigureAwait(false)</c>):
/// a thread-pool thread that starts running such a flow takes the partition's turn first, so the code still runs one
/// synchronous segment at a time with the partition's other code, and with the partition's synchronization context,
/// so that its awaits return to the partition's thread. The turn is given back when the flow leaves the thread.
/// </para>
/// <para>
/// Any flow whose code runs off the partition's thread outside its turn is reported to the escape detector, when one
/// is set.
/// </para>
/// </remarks>
internal sealed class PartitionFlow(PartitionThread thread, int partitionId, string? path, bool guarded, IPartitionEscapeSink? escapes)
{
    private static readonly AsyncLocal<PartitionFlow?> s_current = new(OnChanged);
    private volatile bool _guarded = guarded;

    /// <summary>The flow running on the calling thread, if any.</summary>
    public static PartitionFlow? Current
    {
        get => s_current.Value;
        set => s_current.Value = value;
    }

    public PartitionThread Thread => thread;

    public int PartitionId => partitionId;

    /// <summary>The path of the request the flow belongs to, when there is one.</summary>
    public string? Path => path;

    public bool IsGuarded => _guarded;

    /// <summary>
    /// Guards the flow from now on: the framework is about to run its code off the partition's thread (see the class
    /// remarks). The whole request's flow, so that the framework's code after it (the middleware that awaited it)
    /// counts as the partition's too.
    /// </summary>
    public void Guard() => _guarded = true;

    /// <summary>
    /// The current execution context without any flow: for work handed to another partition, whose code is not
    /// this flow's.
    /// </summary>
    public static ExecutionContext? CaptureWithoutFlow()
    {
        if (s_current.Value is null || ExecutionContext.Capture() is not { } context)
        {
            return ExecutionContext.Capture();
        }

        var captured = new StrongBox<ExecutionContext?>();
        ExecutionContext.Run(context, static state =>
        {
            s_current.Value = null;
            ((StrongBox<ExecutionContext?>)state!).Value = ExecutionContext.Capture();
        }, captured);
        return captured.Value;
    }

    // Every change counts, not only moves between threads (ThreadContextChanged), so that taking and giving back the
    // turn stay paired: a guarded flow is only ever set on its partition's thread, where no turn is taken.
    private static void OnChanged(AsyncLocalValueChangedArgs<PartitionFlow?> args)
    {
        if (args.PreviousValue is { IsGuarded: true } previous)
        {
            previous.Leave();
        }

        if (args.CurrentValue is { } current && !current.Thread.IsCurrent)
        {
            current.EnterOffThread();
        }
    }

    private void EnterOffThread()
    {
        // Only thread-pool threads wait for the turn: an I/O thread running a continuation inline must not block, and
        // neither must a stand-in of another partition's thread (IdleResume = ThreadPool), which holds that partition's
        // turn: the partition's own thread would not wait here either.
        if (_guarded && System.Threading.Thread.CurrentThread.IsThreadPoolThread && PartitionThread.Current is null && thread.Turn.EnterOtherThread())
        {
            SynchronizationContext.SetSynchronizationContext(thread.Context);
            return;
        }

        escapes?.OnEscaped(this);
    }

    private void Leave()
    {
        if (!thread.Turn.IsHeldByCurrentThread)
        {
            return;
        }

        thread.Turn.ExitOtherThread();
        if (ReferenceEquals(SynchronizationContext.Current, thread.Context))
        {
            SynchronizationContext.SetSynchronizationContext(null);
        }
    }
}
