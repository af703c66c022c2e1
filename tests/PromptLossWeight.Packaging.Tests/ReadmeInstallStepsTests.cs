using System.Text.RegularExpressions;

namespace PromptLossWeight.Packaging.Tests;

/// <summary>
/// The README's local-feed steps must be cache-safe: NuGet serves the first package it cached for an id and version, so
/// every pack needs a version of its own (as <see cref="ConsumerTests"/> does), and the install must ask for it.
/// </summary>
public sealed class ReadmeInstallStepsTests
{
    [Fact]
    public void The_readme_packs_the_local_build_under_a_new_version_each_time_and_installs_that_version()
    {
        string[] lines = InstallBlock();

        string versionLine = lines.Single(l => l.StartsWith("version=", StringComparison.Ordinal));
        versionLine.Should().Contain("$(date", "the version must change with every pack");
        string[] packs = lines.Where(l => l.StartsWith("dotnet pack", StringComparison.Ordinal)).ToArray();
        packs.Select(l => Regex.Match(l, @"dotnet pack (\S+)").Groups[1].Value).Should().BeEquivalentTo("src/PromptLossWeight", "src/PromptLossWeight.Llama");
        packs.Should().OnlyContain(l => l.Contains("-p:Version=$version"));
        string adds = string.Join("\n", lines.Where(l => l.StartsWith("dotnet add package", StringComparison.Ordinal)));
        adds.Should().Contain("dotnet add package PromptLossWeight --version $version")
            .And.Contain("dotnet add package PromptLossWeight.Llama --version $version");
    }

    /// <summary>The lines of the README's fenced bash block that packs the repository.</summary>
    private static string[] InstallBlock()
    {
        DirectoryInfo? root = new(AppContext.BaseDirectory);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "PromptLossWeight.sln"))) root = root.Parent;
        root.Should().NotBeNull("the tests run inside the repository");
        string readme = File.ReadAllText(Path.Combine(root!.FullName, "README.md"));
        Match block = Regex.Matches(readme, "```bash\n(.*?)```", RegexOptions.Singleline).FirstOrDefault(m => m.Groups[1].Value.Contains("dotnet pack"))
            ?? throw new InvalidOperationException("README.md has no bash block with 'dotnet pack'.");
        return block.Groups[1].Value.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
    }
}
