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
/// <c>ConfigureAwait(false)</c>, in <c>Task.Run</c>, in a timer), with the partition, the request path and the stack.
/// </summary>
/// <remarks>
/// It is told of every move of a partition's request flow to another thread (see <see cref="PartitionFlow"/>), framework
/// code included: the framework's own continuations after <c>ConfigureAwait(false)</c> (Kestrel reading a body, a
/// database driver) run off the thread too, touching none of the partition's state. So it looks at what is about to
/// run: the async method whose continuation it is, or the delegate of a task, and reports it only when it belongs to
/// the application (the host's application assembly, or an assembly that references partitioned hosting).
/// </remarks>
internal sealed class PartitionEscapeDetector(ILogger<PartitionEscapeDetector> logger, string? applicationName) : IPartitionEscapeSink
{
    private static readonly PropertyInfo? s_currentTask = typeof(Task).GetProperty("InternalCurrent", BindingFlags.NonPublic | BindingFlags.Static);
    private static readonly FieldInfo? s_taskAction = typeof(Task).GetField("m_action", BindingFlags.NonPublic | BindingFlags.Instance);
    private static readonly string s_ours = typeof(PartitionEscapeDetector).Assembly.GetName().Name!;

    private readonly ConcurrentDictionary<object, bool> _reported = new();
    private readonly ConcurrentDictionary<Assembly, bool> _applicationAssemblies = new();
    private long _escapes;

    /// <summary>How many escapes of application code were seen, reported or not (once per call site).</summary>
    public long Escapes => Interlocked.Read(ref _escapes);

    public void OnEscaped(PartitionFlow flow)
    {
        try
        {
            var stack = new StackTrace(1, fNeedFileInfo: true);
            if (FindCallSite(stack) is not { } site)
            {
                return;
            }

            Interlocked.Increment(ref _escapes);
            if (_reported.TryAdd(site.Key, true))
            {
                Log.Escaped(logger, flow.PartitionId, flow.Path ?? "(none)", site.Description, Environment.CurrentManagedThreadId, stack.ToString());
            }
        }
        catch (Exception ex)
        {
            // Called while the runtime restores an execution context: nothing may escape from here.
            Debug.Fail(ex.ToString());
        }
    }

    /// <summary>The application code about to run: an async method resuming, a task's delegate, or a frame on the stack.</summary>
    private CallSite? FindCallSite(StackTrace stack)
    {
        foreach (var frame in stack.GetFrames())
        {
            if (frame.GetMethod() is not { DeclaringType: { } type } method)
            {
                continue;
            }

            // An async method's continuation: the state machine box's type names the method.
            if (type.IsGenericType)
            {
                foreach (var argument in type.GetGenericArguments())
                {
                    if (typeof(IAsyncStateMachine).IsAssignableFrom(argument))
                    {
                        return IsApplication(argument.Assembly) ? new CallSite(argument, $"the continuation of async method {DescribeStateMachine(argument)}") : null;
                    }
                }
            }

            // Task.Run, ContinueWith, Task.Factory.StartNew: the task's delegate.
            if (type == typeof(Task) && s_currentTask?.GetValue(null) is Task task && s_taskAction?.GetValue(task) is Delegate action)
            {
                return IsApplication(action.Method.Module.Assembly) ? new CallSite(action.Method, $"the delegate {Describe(action.Method)} of task {task.Id}") : null;
            }

            if (IsApplication(type.Assembly))
            {
                return new CallSite(method, Describe(method));
            }
        }

        return null;
    }

    private bool IsApplication(Assembly assembly) => _applicationAssemblies.GetOrAdd(assembly, a =>
    {
        var name = a.GetName().Name;
        if (name is null || name.StartsWith(s_ours.Split('.')[0] + ".", StringComparison.Ordinal))
        {
            return false;
        }

        return name == applicationName || a.GetReferencedAssemblies().Any(r => r.Name?.StartsWith("PartitionedHosting.", StringComparison.Ordinal) == true);
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

    private sealed record CallSite(object Key, string Description);
}
