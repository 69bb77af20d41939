using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp.Testing;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Testing;

namespace PartitionedHosting.Analyzers.Tests;

/// <summary>
/// Runs an analyzer over code that references .NET 10, ASP.NET Core 10 (the SDK's reference packs, so nothing is
/// downloaded) and Partitioned Hosting, and compares its diagnostics with the ones marked in the code
/// (<c>{|PH0001:...|}</c>).
/// </summary>
internal static class Verify<TAnalyzer>
    where TAnalyzer : DiagnosticAnalyzer, new()
{
    private static readonly Lazy<MetadataReference[]> s_references = new(LoadReferences);

    public static Task AnalyzeAsync(string code, OutputKind outputKind = OutputKind.DynamicallyLinkedLibrary)
    {
        var test = new CSharpAnalyzerTest<TAnalyzer, DefaultVerifier>
        {
            TestCode = code,
            ReferenceAssemblies = new ReferenceAssemblies("net10.0"),

            // A rule reported both at once and when the compilation ends has a descriptor for each, with one ID.
            MarkupOptions = MarkupOptions.UseFirstDescriptor,
        };
        test.TestState.OutputKind = outputKind;
        test.TestState.AdditionalReferences.AddRange(s_references.Value);
        return test.RunAsync();
    }

    /// <summary>
    /// Applies <typeparamref name="TCodeFix"/> to every diagnostic marked in <paramref name="code"/> and compares the
    /// result. A diagnostic reported when the compilation ends is not local to a document, which the test framework
    /// checks unless told (the editor offers its fix where it shows it: with full solution analysis, and in the build's
    /// error list).
    /// </summary>
    public static Task FixAsync<TCodeFix>(string code, string fixedCode)
        where TCodeFix : CodeFixProvider, new()
    {
        var test = new CSharpCodeFixTest<TAnalyzer, TCodeFix, DefaultVerifier>
        {
            TestCode = code,
            FixedCode = fixedCode,
            ReferenceAssemblies = new ReferenceAssemblies("net10.0"),
            MarkupOptions = MarkupOptions.UseFirstDescriptor,
            CodeFixTestBehaviors = new TAnalyzer().SupportedDiagnostics.Any(d => d.CustomTags.Contains(WellKnownDiagnosticTags.CompilationEnd))
                ? CodeFixTestBehaviors.SkipLocalDiagnosticCheck
                : CodeFixTestBehaviors.None,
        };
        test.TestState.AdditionalReferences.AddRange(s_references.Value);
        test.FixedState.AdditionalReferences.AddRange(s_references.Value);
        return test.RunAsync();
    }

    private static MetadataReference[] LoadReferences()
    {
        // .../dotnet/shared/Microsoft.NETCore.App/<version>/System.Private.CoreLib.dll -> .../dotnet
        var dotnet = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(typeof(object).Assembly.Location)!, "..", "..", ".."));
        var references = new[] { "Microsoft.NETCore.App.Ref", "Microsoft.AspNetCore.App.Ref" }
            .SelectMany(pack => Directory.GetFiles(ReferencePack(dotnet, pack), "*.dll"))
            .Select(path => (MetadataReference)MetadataReference.CreateFromFile(path))
            .ToList();
        references.Add(MetadataReference.CreateFromFile(typeof(IPartitionBuilder).Assembly.Location));
        references.Add(MetadataReference.CreateFromFile(typeof(Microsoft.Extensions.Hosting.PartitionedHostingBuilderExtensions).Assembly.Location));
        references.Add(MetadataReference.CreateFromFile(typeof(Microsoft.EntityFrameworkCore.DbContext).Assembly.Location));
        return [.. references];
    }

    private static string ReferencePack(string dotnet, string pack)
    {
        var versions = new DirectoryInfo(Path.Combine(dotnet, "packs", pack));
        var version = versions.Exists
            ? versions.GetDirectories($"{Environment.Version.Major}.*").OrderByDescending(d => Version.TryParse(d.Name, out var v) ? v : new Version()).FirstOrDefault()
            : null;
        return version is null
            ? throw new InvalidOperationException($"The .NET SDK's {pack} pack was not found under {versions.FullName}.")
            : Path.Combine(version.FullName, "ref", $"net{Environment.Version.Major}.0");
    }
}
