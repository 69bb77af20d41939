using System.Globalization;
using System.Net;
using BenchmarkDotNet.Attributes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using PartitionedHosting;

/// <summary>
/// Calls into running partitions of a started application (Kestrel on 127.0.0.1, two partitions), through the public
/// <see cref="IPartitionInvoker"/>: the owner of a key, the hop from outside into a partition and back (what a
/// request pays to run on a SingleThreaded partition's thread), and a call from one partition to another.
/// </summary>
[MemoryDiagnoser]
public class PartitionCallBenchmarks
{
    private static readonly Func<IPartitionContext, CancellationToken, Task<int>> s_id = static (partition, _) => Task.FromResult(partition.Id);

    private readonly string[] _keys = [.. Enumerable.Range(0, 1024).Select(i => "key-" + i.ToString(CultureInfo.InvariantCulture))];
    private WebApplication _app = null!;
    private IPartitionInvoker _invoker = null!;
    private Func<IPartitionContext, CancellationToken, Task<int>> _callPartitionOne = null!;
    private int _next;

    /// <summary>The execution mode of both partitions.</summary>
    [Params(ExecutionMode.SingleThreaded, ExecutionMode.FreeThreaded)]
    public ExecutionMode Mode { get; set; }

    [GlobalSetup]
    public async Task SetupAsync()
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["PartitionedHosting:PartitionCount"] = "2",
            ["PartitionedHosting:Mode"] = Mode.ToString(),
        });
        builder.AddPartitionedHosting();
        _app = builder.Build();
        await _app.StartAsync();
        _invoker = _app.Services.GetRequiredService<IPartitionInvoker>();

        // Awaited on partition 0, so that the result comes back to partition 0 before the call returns to the caller.
        _callPartitionOne = async (_, cancellationToken) => await _invoker.InvokeAsync(1, s_id, cancellationToken);
    }

    [GlobalCleanup]
    public async Task CleanupAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    /// <summary>The reference: a hop to the thread pool and back.</summary>
    [Benchmark(Baseline = true)]
    public Task<int> ThreadPoolHop() => Task.Run(static () => 1);

    /// <summary>The key policy (jump consistent hashing by default): which partition owns a key.</summary>
    [Benchmark]
    public int PartitionForKey() => _invoker.GetPartitionForKey(_keys[_next++ & 1023]);

    /// <summary>From outside any partition into partition 1 and back.</summary>
    [Benchmark]
    public Task<int> HopIntoPartition() => _invoker.InvokeAsync(1, s_id);

    /// <summary>Into partition 0, from there a call to partition 1 awaited on partition 0, and back.</summary>
    [Benchmark]
    public Task<int> CrossPartitionCall() => _invoker.InvokeAsync(0, _callPartitionOne);
}
