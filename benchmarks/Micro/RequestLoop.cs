using System.Diagnostics;

/// <summary>
/// Runs <see cref="RequestBenchmarks.Plaintext"/> in a loop for a profiler to sample (<c>perf record</c> with
/// <c>DOTNET_PerfMapEnabled=1</c>), and prints the mean time per request: <c>dotnet
/// benchmarks/Micro/bin/Release/net10.0/Micro.dll --loop FreeThreaded 5000000</c>.
/// </summary>
internal static class RequestLoop
{
    public static async Task RunAsync(string architecture, int requests)
    {
        var benchmark = new RequestBenchmarks { Architecture = architecture };
        await benchmark.SetupAsync();
        for (var i = 0; i < 100_000; i++)
        {
            benchmark.Plaintext().GetAwaiter().GetResult();
        }

        var stopwatch = Stopwatch.StartNew();
        for (var i = 0; i < requests; i++)
        {
            benchmark.Plaintext().GetAwaiter().GetResult();
        }

        var elapsed = stopwatch.Elapsed;
        await benchmark.CleanupAsync();
        Console.WriteLine($"{architecture}: {elapsed.TotalNanoseconds / requests:F0} ns per request over {requests:N0}");
    }
}
