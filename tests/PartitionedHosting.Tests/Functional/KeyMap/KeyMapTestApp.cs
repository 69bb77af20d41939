using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using PartitionedHosting.Partitions;
using PartitionedHosting.Tests.Infrastructure;

namespace PartitionedHosting.Tests.Functional.KeyMap;

/// <summary>
/// What the key-map tests share: keyed counters and per-key logs kept partition-local, moved with their slots, and a
/// control the tests use to hold up or break a handoff.
/// </summary>
internal static class KeyMapTestApp
{
    public static Task<KestrelTestApp> StartAsync(int partitions, string mode = "SingleThreaded", Action<Dictionary<string, string?>>? settings = null, Action<WebApplication>? map = null)
    {
        var values = Settings.Partitioned(partitions, mode);
        settings?.Invoke(values);
        return KestrelTestApp.StartAsync(
            values,
            app =>
            {
                app.MapPost("/inc/{key}", (string key, KeyedState state, IPartitionContext partition) => state.Increment(partition, key)).WithPartitionKey("key");
                app.MapGet("/count/{key}", (string key, KeyedState state, IPartitionContext partition) => state.Get(partition, key)).WithPartitionKey("key");
                app.MapPost("/append/{key}", (string key, int n, KeyedState state, IPartitionContext partition, HttpContext http, IHttpContextAccessor accessor) =>
                {
                    // A request resumed by a move runs in its own execution context.
                    if (accessor.HttpContext != http)
                    {
                        Interlocked.Increment(ref http.RequestServices.GetRequiredService<HandoffControl>().Violations);
                    }

                    return state.Append(partition, key, n);
                }).WithPartitionKey("key");
                app.MapGet("/log/{key}", (string key, KeyedState state) => state.Log(key)).WithPartitionKey("key");

                // Holds its slot until the test lets it go; then, optionally, calls for another key through the invoker.
                app.MapPost("/slow/{key}", async (string key, string? then, KeyedState state, IPartitionContext partition, HandoffControl control, PartitionedHosting.IPartitionInvoker invoker) =>
                {
                    control.SlowStarted.TrySetResult();
                    await control.SlowGate.Task;
                    var nested = then is null ? "" : " " + await invoker.InvokeForKeyAsync(then, (p, _) => Task.FromResult(p.Id.ToString(CultureInfo.InvariantCulture)));
                    return state.Increment(partition, key) + nested;
                }).WithPartitionKey("key");
                map?.Invoke(app);
            },
            partition =>
            {
                partition.Services.AddSingleton<KeyedState>();
                partition.Services.AddSingleton<IPartitionStateHandoff>(sp => sp.GetRequiredService<KeyedState>());
            },
            configure: b => b.Services.AddSingleton<HandoffControl>().AddHttpContextAccessor());
    }

    public static async Task<string> PostAsync(HttpClient client, string path)
    {
        using var response = await client.PostAsync(path, null);
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadAsStringAsync();
    }
}

/// <summary>Lets a test hold up, or break, the next handoffs, and records where they ran.</summary>
internal sealed class HandoffControl
{
    public TaskCompletionSource ExportStarted { get; set; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public TaskCompletionSource SlowStarted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>What <c>/slow/{key}</c> waits for.</summary>
    public TaskCompletionSource SlowGate { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>When set, exports wait for it.</summary>
    public Task? ExportGate { get; set; }

    public bool FailExport { get; set; }

    public bool FailImport { get; set; }

    /// <summary>The partition an import that failed goes back to: importing there succeeds.</summary>
    public int ImportBackTo { get; set; } = -1;

    /// <summary>Code that ran on a single-threaded partition off its thread.</summary>
    public int Violations;

    public ConcurrentQueue<(string Step, int Partition, bool OnItsThread)> Handoffs { get; } = new();
}

/// <summary>Partition-local: counters and append logs by key. Locked, so that it also serves free-threaded partitions.</summary>
internal sealed class KeyedState(HandoffControl control) : IPartitionStateHandoff
{
    private readonly Dictionary<string, long> _counters = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<int>> _logs = new(StringComparer.Ordinal);

    public string Increment(IPartitionContext partition, string key)
    {
        Check(partition);
        lock (_counters)
        {
            _counters[key] = _counters.GetValueOrDefault(key) + 1;
        }

        return partition.Id.ToString(CultureInfo.InvariantCulture);
    }

    public string Get(IPartitionContext partition, string key)
    {
        lock (_counters)
        {
            return _counters.GetValueOrDefault(key).ToString(CultureInfo.InvariantCulture);
        }
    }

    public string Append(IPartitionContext partition, string key, int n)
    {
        Check(partition);
        lock (_counters)
        {
            (_logs.TryGetValue(key, out var log) ? log : _logs[key] = []).Add(n);
        }

        return partition.Id.ToString(CultureInfo.InvariantCulture);
    }

    public string Log(string key)
    {
        lock (_counters)
        {
            return string.Join(',', _logs.GetValueOrDefault(key) ?? []);
        }
    }

    /// <summary>The keys this partition holds.</summary>
    public IReadOnlyList<string> Keys()
    {
        lock (_counters)
        {
            return [.. _counters.Keys];
        }
    }

    public async ValueTask<object?> ExportAsync(IPartitionContext partition, IReadOnlySet<int> slots, CancellationToken cancellationToken)
    {
        control.Handoffs.Enqueue(("export", partition.Id, OnItsThread(partition)));
        control.ExportStarted.TrySetResult();
        if (control.ExportGate is { } gate)
        {
            await gate.WaitAsync(cancellationToken);
        }

        control.Handoffs.Enqueue(("export-resumed", partition.Id, OnItsThread(partition)));
        if (control.FailExport)
        {
            throw new InvalidOperationException("Export failed (test).");
        }

        lock (_counters)
        {
            var counters = _counters.Where(c => slots.Contains(PartitionKeySlots.GetSlot(c.Key))).ToList();
            var logs = _logs.Where(l => slots.Contains(PartitionKeySlots.GetSlot(l.Key))).ToList();
            counters.ForEach(c => _counters.Remove(c.Key));
            logs.ForEach(l => _logs.Remove(l.Key));
            return (counters, logs);
        }
    }

    public ValueTask ImportAsync(IPartitionContext partition, IReadOnlySet<int> slots, object? state, CancellationToken cancellationToken)
    {
        control.Handoffs.Enqueue(("import", partition.Id, OnItsThread(partition)));
        var (counters, logs) = ((List<KeyValuePair<string, long>>, List<KeyValuePair<string, List<int>>>))state!;
        if (control.FailImport && counters.Count > 0 && partition.Id != control.ImportBackTo)
        {
            throw new InvalidOperationException("Import failed (test).");
        }

        lock (_counters)
        {
            counters.ForEach(c => _counters[c.Key] = _counters.GetValueOrDefault(c.Key) + c.Value);
            logs.ForEach(l => _logs[l.Key] = l.Value);
        }

        return ValueTask.CompletedTask;
    }

    private void Check(IPartitionContext partition)
    {
        if (!OnItsThread(partition))
        {
            Interlocked.Increment(ref control.Violations);
        }
    }

    private static bool OnItsThread(IPartitionContext partition) =>
        partition.Mode == ExecutionMode.FreeThreaded || ((PartitionInstance)partition).Thread!.ManagedThreadId == Environment.CurrentManagedThreadId;
}
