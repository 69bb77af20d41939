using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis.Diagnostics;

namespace PartitionedHosting.Analyzers.Tests;

/// <summary>The README lists every diagnostic of the analyzers, under the heading its help link points to.</summary>
public sealed partial class ReadmeTests
{
    [Fact]
    public void TheReadme_ListsEveryDiagnostic_UnderTheHeadingItsHelpLinkNames()
    {
        var readme = File.ReadAllText(Path.Combine(FindRoot(), "README.md"));
        var headings = Heading().Matches(readme).ToDictionary(m => m.Groups["id"].Value, m => m.Groups["title"].Value.Trim());
        var rules = typeof(BlockingCallAnalyzer).Assembly.GetTypes()
            .Where(t => typeof(DiagnosticAnalyzer).IsAssignableFrom(t) && !t.IsAbstract)
            .SelectMany(t => ((DiagnosticAnalyzer)Activator.CreateInstance(t)!).SupportedDiagnostics)
            .DistinctBy(r => r.Id) // a rule reported at once and at the compilation's end has two descriptors
            .ToList();
        Assert.True(rules.Count >= 4, $"only {rules.Count} rules found");

        Assert.Equal(rules.Select(r => r.Id).Order(), headings.Keys.Order());
        foreach (var rule in rules)
        {
            Assert.Equal(rule.Title.ToString(), headings[rule.Id]);

            // GitHub's anchor of "#### PH0001: Do not block in request code".
            var anchor = $"{rule.Id}: {rule.Title}".ToLowerInvariant().Replace(":", "", StringComparison.Ordinal).Replace(' ', '-');
            Assert.EndsWith("README.md#" + anchor, rule.HelpLinkUri, StringComparison.Ordinal);
        }
    }

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Hosting.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException("The repository's root (Hosting.sln) was not found above the test's directory.");
    }

    [GeneratedRegex(@"^#### (?<id>PH\d{4}): (?<title>.+)$", RegexOptions.Multiline)]
    private static partial Regex Heading();
}
