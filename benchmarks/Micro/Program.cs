using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Running;

// Micro-benchmarks of what Partitioned Hosting adds to a request: picking a partition for a connection or a key, the
// hop into a partition and back, a call from one partition to another, and a whole request with and without
// partitions. benchmarks/micro.sh runs them.
// Benchmarks always run in this process (--inProcess): BenchmarkDotNet's default toolchain would generate and build a
// project of its own, rebuilding src/ with it.
if (args is ["--allocations", var architecture])
{
    await RequestAllocations.RunAsync(architecture);
    return;
}

if (args is ["--kestrel-loop", var kestrelRequests, .. var only])
{
    await KestrelLoop.RunAsync(int.Parse(kestrelRequests, System.Globalization.CultureInfo.InvariantCulture), only.FirstOrDefault());
    return;
}

if (args is ["--loop", var loopArchitecture, var count])
{
    await RequestLoop.RunAsync(loopArchitecture, int.Parse(count, System.Globalization.CultureInfo.InvariantCulture));
    return;
}

string[] arguments = args.Contains("--inProcess", StringComparer.OrdinalIgnoreCase) ? args : ["--inProcess", .. args];
BenchmarkSwitcher.FromAssembly(typeof(DistributionBenchmarks).Assembly).Run(arguments, DefaultConfig.Instance.AddDiagnoser(MemoryDiagnoser.Default));
