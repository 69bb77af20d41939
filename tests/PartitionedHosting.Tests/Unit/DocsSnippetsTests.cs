using System.Text.RegularExpressions;

using PartitionedHosting.Tests.Infrastructure;

namespace PartitionedHosting.Tests.Unit;

/// <summary>
/// Every C# block of the README and of the guides in docs/ is a snippet of docs/snippets, which builds with the
/// solution: their code compiles because it is the compiled code, word for word.
/// </summary>
public sealed partial class DocsSnippetsTests
{
    private static readonly string s_root = Repository.Root;

    [Fact]
    public void EveryCSharpBlockOfTheReadmeAndTheGuides_IsASnippetThatCompiles()
    {
        var snippets = Snippets();
        var guides = Directory.GetFiles(Path.Combine(s_root, "docs"), "*.md", SearchOption.AllDirectories).Append(Path.Combine(s_root, "README.md"));
        var checkedBlocks = 0;
        foreach (var guide in guides)
        {
            var text = File.ReadAllText(guide).ReplaceLineEndings("\n");
            foreach (Match block in CSharpBlock().Matches(text))
            {
                var name = block.Groups["name"].Value;
                Assert.True(name.Length > 0, $"{Path.GetFileName(guide)}: a csharp block without <!-- snippet: name --> before it:\n{block.Value}");
                Assert.True(snippets.TryGetValue(name, out var code), $"{Path.GetFileName(guide)}: snippet '{name}' is not in docs/snippets.");
                Assert.Equal(code, block.Groups["code"].Value.TrimEnd('\n'));
                checkedBlocks++;
            }
        }

        Assert.True(checkedBlocks >= 20, $"only {checkedBlocks} blocks checked");
    }

    private static Dictionary<string, string> Snippets()
    {
        var snippets = new Dictionary<string, string>();
        var files = Directory.GetFiles(Path.Combine(s_root, "docs", "snippets"), "*.cs")
            .Concat(Directory.GetFiles(Path.Combine(s_root, "tests", "PartitionedHosting.Tests", "Integration"), "*.cs"));
        foreach (var file in files)
        {
            var text = File.ReadAllText(file).ReplaceLineEndings("\n");
            foreach (Match region in SnippetRegion().Matches(text))
            {
                snippets.Add(region.Groups["name"].Value, Dedent(region.Groups["code"].Value));
            }
        }

        return snippets;
    }

    private static string Dedent(string code)
    {
        var lines = code.TrimEnd('\n', ' ').Split('\n');
        var indent = lines.Where(l => l.Trim().Length > 0).Min(l => l.Length - l.TrimStart().Length);
        return string.Join('\n', lines.Select(l => l.Length >= indent ? l[indent..] : l.TrimStart()));
    }

    [GeneratedRegex(@"(?:<!-- snippet: (?<name>[\w-]+) -->\n)?```(?:csharp|cs|c\#)[ \t]*\n(?<code>.*?)```", RegexOptions.Singleline | RegexOptions.IgnoreCase)]
    private static partial Regex CSharpBlock();

    [GeneratedRegex(@"[ \t]*// <snippet name=""(?<name>[\w-]+)"">\n(?<code>.*?)[ \t]*// </snippet>", RegexOptions.Singleline)]
    private static partial Regex SnippetRegion();
}
