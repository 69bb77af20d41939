using System.Numerics;
using System.Text.Json.Serialization;

/// <summary>The body of <c>/json</c>.</summary>
/// <param name="Message">The greeting.</param>
internal sealed record JsonMessage(string Message);

/// <summary>A row of <c>world</c>, the body of <c>/db</c>.</summary>
/// <param name="Id">The row's key.</param>
/// <param name="RandomNumber">Its random number.</param>
internal sealed record World(int Id, int RandomNumber);

/// <summary>A row of <c>fortune</c>.</summary>
/// <param name="Id">The row's key.</param>
/// <param name="Message">Its message, not yet encoded.</param>
internal sealed record Fortune(int Id, string Message);

[JsonSerializable(typeof(JsonMessage))]
[JsonSerializable(typeof(World))]
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
internal sealed partial class BenchJsonContext : JsonSerializerContext;

/// <summary>The fixed work of <c>/cpu</c>: a fixed number of dependent multiply-rotate steps, not a time budget.</summary>
internal static class CpuWork
{
    /// <summary>About 50 µs on the 2-core benchmark machine (measured: 20,000 steps took about 19 µs).</summary>
    public const int Iterations = 50_000;

    public static ulong Run()
    {
        var hash = 14695981039346656037UL;
        for (var i = 0; i < Iterations; i++)
        {
            hash = BitOperations.RotateLeft((hash ^ (uint)i) * 1099511628211UL, 13);
        }

        return hash;
    }
}
