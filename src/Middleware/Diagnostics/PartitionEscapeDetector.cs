using System.Collections.Concurrent;
using System.Diagnostics;
using System.Reflection;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using PartitionedHosting.Execution;

namespace PartitionedHosting.Diagnostics;

/// <summary>
/// Tells the author where request code of a single-threaded partition left the partition: a warning, once per call
/// site, when application code runs off the partition's thread outside its turn (code after
/// <c>ConfigureAwait(false)</c>, in <c>Task.Run</c>, in a timer), with the partition, the request path and the code:
/// the async method and the await it reached, or the task's delegate.
/// </summary>
/// <remarks>
/// <para>
/// It is told of every move of a partition's request flow to another thread (see <see cref="PartitionFlow"/>), the
/// framework's own code included: Kestrel reading a body, an HTTP client or a database driver continue off the thread
/// after their own <c>ConfigureAwait(false)</c>, touching none of the partition's state. So it reports only what it
/// can tell is the application's (the host's application assembly, or an assembly that references partitioned
/// hosting): the delegate of a task (<c>Task.Run</c>, <c>ContinueWith</c>), seen as the flow arrives; and async
/// methods, seen by the synchronization context it puts on the thread for the time the flow runs there, which
/// behaves as no context at all but learns which async method awaits next.
/// </para>
/// <para>
/// The runtime does not say which async method resumes on a thread, so code that left the partition and returns
/// without another await (the tail of a method after its last <c>ConfigureAwait(false)</c>) is not seen. Nor is a stack
/// logged: when a flow moves to a thread, the stack holds only the runtime's dispatch frames.
/// </para>
/// </remarks>
internal sealed class PartitionEscapeDetector : IPartitionEscapeSink
{
    private static readonly PropertyInfo? s_currentTask = typeof(Task).GetProperty("InternalCurrent", BindingFlags.NonPublic | BindingFlags.Static);
    private static readonly FieldInfo? s_taskAction = typeof(Task).GetField("m_action", BindingFlags.NonPublic | BindingFlags.Instance);
    private static readonly HashSet<string> s_libraries = [typeof(PartitionEscapeDetector).Assembly.GetName().Name!, "PartitionedHosting.Hosting"];

    private readonly ILogger _logger;
    private readonly string? _applicationName;
    private readonly ConcurrentDictionary<object, bool> _reported = new();
    private readonly ConcurrentDictionary<Assembly, bool> _applicationAssemblies = new();
    private long _escapes;

    public PartitionEscapeDetector(ILogger<PartitionEscapeDetector> logger, string? applicationName)
    {
        _logger = logger;
        _applicationName = applicationName;
    }

    /// <summary>How many times application code was seen off its partition, reported or not (once per call site).</summary>
    public long Escapes => Interlocked.Read(ref _escapes);

    public void OnEscaped(PartitionFlow flow)
    {
        try
        {
            // A task's delegate is known before it runs; an async method only when it awaits (see Probe).
            if (s_currentTask?.GetValue(null) is Task task && s_taskAction?.GetValue(task) is Delegate action && IsApplication(action.Method.Module.Assembly))
            {
                Report(flow, action.Method, $"the task delegate {Describe(action.Method)} (Task.Run, ContinueWith or a task factory)");
            }

            if (SynchronizationContext.Current is null)
            {
                // Restored by the runtime when the flow leaves the thread, as any synchronization context is.
                SynchronizationContext.SetSynchronizationContext(new Probe(this, flow));
            }
        }
        catch (Exception ex)
        {
            // Called while the runtime restores an execution context: nothing may escape from here.
            Debug.Fail(ex.ToString());
        }
    }

    private void OnAwaited(PartitionFlow flow, object? continuation)
    {
        try
        {
            if (FindStateMachine(continuation, out var state) is { } stateMachine && IsApplication(stateMachine.GetType().Assembly))
            {
                // The state of a suspended state machine is the index of the await it waits at, counted from 0.
                var at = state is int index and >= 0 ? $" and reached its await #{index + 1} there" : "";
                Report(flow, (stateMachine.GetType(), state), $"the async method {DescribeStateMachine(stateMachine.GetType())} ran off the thread{at}");
            }
        }
        catch (Exception ex)
        {
            Debug.Fail(ex.ToString());
        }
    }

    private void Report(PartitionFlow flow, object callSite, string description)
    {
        Interlocked.Increment(ref _escapes);
        if (_reported.TryAdd(callSite, true))
        {
            Log.Escaped(_logger, flow.PartitionId, description, flow.Path ?? "(none)", Environment.CurrentManagedThreadId);
        }
    }

    /// <summary>
    /// The async state machine behind an await's continuation (a box, its MoveNext delegate, or a pair holding either),
    /// and the state it is suspended in.
    /// </summary>
    private static IAsyncStateMachine? FindStateMachine(object? continuation, out object? state)
    {
        state = null;
        for (var depth = 0; depth < 3 && continuation is not null; depth++)
        {
            switch (continuation)
            {
                case Delegate callback when callback.Target is not null:
                    continuation = callback.Target;
                    continue;
                case Tuple<Action<object?>, object?> pair:
                    continuation = pair.Item2 ?? pair.Item1;
                    continue;
            }

            // The runtime's box keeps the state machine in a public field of an internal type.
            if (continuation.GetType().GetField("StateMachine")?.GetValue(continuation) is IAsyncStateMachine stateMachine)
            {
                state = stateMachine.GetType().GetField("<>1__state", BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance)?.GetValue(stateMachine);
                return stateMachine;
            }

            return null;
        }

        return null;
    }

    private bool IsApplication(Assembly assembly) => _applicationAssemblies.GetOrAdd(assembly, a =>
    {
        var name = a.GetName().Name;
        if (name is null || s_libraries.Contains(name))
        {
            return false;
        }

        return name == _applicationName || a.GetReferencedAssemblies().Any(r => r.Name is { } referenced && s_libraries.Contains(referenced));
    });

    private static string DescribeStateMachine(Type stateMachine)
    {
        // "<Items>d__3" is the state machine of Items; "<<Main>$>b__0_1>d" that of a lambda in Main.
        var name = stateMachine.Name;
        var end = name.LastIndexOf('>');
        var method = name.StartsWith('<') && end > 1 ? name[1..end] : name;
        return $"{stateMachine.DeclaringType?.FullName ?? stateMachine.Namespace}.{method}";
    }

    private static string Describe(MethodBase method) => $"{method.DeclaringType?.FullName}.{method.Name}";

    /// <summary>
    /// The synchronization context of a thread while a partition's flow runs there outside its turn: continuations go
    /// to the thread pool as with no context; on the way, the detector learns which async method awaited. Posts come
    /// from whichever thread completes the awaited work, so the probe remembers the flow it was installed for.
    /// </summary>
    private sealed class Probe(PartitionEscapeDetector detector, PartitionFlow flow) : SynchronizationContext
    {
        public override void Post(SendOrPostCallback d, object? state)
        {
            detector.OnAwaited(flow, state ?? d);
            base.Post(d, state);
        }

        public override SynchronizationContext CreateCopy() => this;
    }
}
