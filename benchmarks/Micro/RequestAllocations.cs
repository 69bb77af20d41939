/// <summary>
/// Where a request's bytes go: runs <see cref="RequestBenchmarks.Plaintext"/> many times with the runtime's allocation
/// sampling on (<c>AllocationProfile</c> of the benchmark application: an event about every 100 KB allocated, naming
/// the type that crossed it) and prints the types by their share of the bytes sampled, scaled to bytes per request. <c>dotnet run -c Release --project benchmarks/Micro --
/// --allocations SingleThreaded</c>.
/// </summary>
internal static class RequestAllocations
{
    public static async Task RunAsync(string architecture, int requests = 500_000)
    {
        var benchmark = new RequestBenchmarks { Architecture = architecture };
        await benchmark.SetupAsync();

        // Waited for synchronously, as BenchmarkDotNet does: an await would go on on the partition's thread, and every
        // request after the first would run there inline, without the hop a request from Kestrel's thread pool makes.
        for (var i = 0; i < 10_000; i++)
        {
            benchmark.Plaintext().GetAwaiter().GetResult();
        }

        using var profile = new AllocationProfile();
        var before = GC.GetTotalAllocatedBytes(precise: true);
        for (var i = 0; i < requests; i++)
        {
            benchmark.Plaintext().GetAwaiter().GetResult();
        }

        var perRequest = (GC.GetTotalAllocatedBytes(precise: true) - before) / (double)requests;
        await benchmark.CleanupAsync();

        Console.WriteLine($"{architecture}: {perRequest:F0} B per request (all threads)");
        foreach (var (type, share) in profile.Top(20))
        {
            Console.WriteLine($"  {share * perRequest,7:F1} B  {type}");
        }
    }
}
