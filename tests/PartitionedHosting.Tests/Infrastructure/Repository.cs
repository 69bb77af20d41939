namespace PartitionedHosting.Tests.Infrastructure;

/// <summary>The repository the tests run from, for the tests that hold its documents to the code.</summary>
internal static class Repository
{
    /// <summary>The repository's root: the directory of <c>Hosting.sln</c>, above the test's own.</summary>
    public static string Root { get; } = FindRoot();

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
}
