using System.IO.Compression;

namespace PromptLossWeight.Packaging.Tests;

/// <summary>
/// Packs PromptLossWeight and PromptLossWeight.Llama into a local folder feed, then does what a user does:
/// a new console project, <c>dotnet add package</c> from that feed (plus TorchSharp-cpu), build and run.
/// </summary>
public sealed class ConsumerTests : IDisposable
{
    private static readonly TimeSpan Slow = TimeSpan.FromMinutes(8);
    private readonly string _work = Directory.CreateTempSubdirectory("plw-consumer-").FullName;
    private readonly string _version = "0.1.0-consumer." + DateTime.UtcNow.ToString("yyyyMMddHHmmss") + "." + Random.Shared.Next(1000, 9999);

    public void Dispose()
    {
        Directory.Delete(_work, recursive: true);
        // The unique test version must not pile up in the user's package cache.
        string cache = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        foreach (string id in new[] { "promptlossweight", "promptlossweight.llama" })
        {
            string folder = Path.Combine(cache, id, _version);
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void A_fresh_console_project_installs_the_packages_from_a_folder_feed_builds_and_runs()
    {
        string feed = Path.Combine(_work, "feed");
        Pack(feed);

        AssertPackageContains(Path.Combine(feed, $"PromptLossWeight.{_version}.nupkg"),
            "README.md", "LICENSE", "lib/net10.0/PromptLossWeight.dll", "lib/net10.0/PromptLossWeight.xml", "buildTransitive/PromptLossWeight.targets");
        AssertPackageContains(Path.Combine(feed, $"PromptLossWeight.Llama.{_version}.nupkg"),
            "README.md", "LICENSE", "lib/net10.0/PromptLossWeight.Llama.dll", "lib/net10.0/PromptLossWeight.Llama.xml");
        File.Exists(Path.Combine(feed, $"PromptLossWeight.{_version}.snupkg")).Should().BeTrue("a symbols package is produced");
        string llamaSpec = ReadEntry(Path.Combine(feed, $"PromptLossWeight.Llama.{_version}.nupkg"), "PromptLossWeight.Llama.nuspec");
        llamaSpec.Should().Contain($"<dependency id=\"PromptLossWeight\" version=\"{_version}\"");

        string app = Path.Combine(_work, "app");
        Directory.CreateDirectory(app);
        Dotnet("new console --framework net10.0 --name App --output .", app);
        File.WriteAllText(Path.Combine(app, "nuget.config"),
            $"<configuration><packageSources><add key=\"plw-test-feed\" value=\"{feed}\" /></packageSources></configuration>");
        Dotnet($"add package PromptLossWeight --version {_version}", app);
        Dotnet($"add package PromptLossWeight.Llama --version {_version}", app);
        Dotnet("add package TorchSharp-cpu --version 0.107.0", app);
        File.Copy(Path.Combine(AppContext.BaseDirectory, "Consumer", "Program.cs.txt"), Path.Combine(app, "Program.cs"), overwrite: true);

        string output = Dotnet("run", app);

        output.Should().Contain("plw=1 loss=").And.Contain("plw=0 loss=");
        ParseLoss(output, "plw=0").Should().BeApproximately(ExpectedCompletionOnlyLoss(), 1e-5);

        // The Trainer subclass ran: its ComputeLoss override was called for every step, its metric was reported,
        // and training lowered the completion loss. Each row has 3 predictions: 2 of prompt tokens, 1 of completion.
        output.Should().Contain("steps=16 evals=");
        output.Should().Contain("calls=16");
        output.Should().Contain("custom_metric=0.3333");
        string losses = output.Split('\n').Single(l => l.StartsWith("completion_loss ", StringComparison.Ordinal));
        double firstLoss = ParseValue(losses, "first="), lastLoss = ParseValue(losses, "last=");
        lastLoss.Should().BeLessThan(firstLoss, "fine-tuning lowers the completion loss");
    }

    // Completion-only loss of the consumer program's batch, computed here by hand:
    // row 0 predicts token 2 from logits (0,1,0) and token 3 (label 0) from (0,0,1);
    // row 1 predicts label 2 from (1,0,0) and label 2 from (0,0,3).
    private static double ExpectedCompletionOnlyLoss()
    {
        static double Ce(double[] z, int y) => Math.Log(z.Sum(Math.Exp)) - z[y];
        return (Ce([0, 1, 0], 2) + Ce([0, 0, 1], 0) + Ce([1, 0, 0], 2) + Ce([0, 0, 3], 2)) / 4;
    }

    private static double ParseLoss(string output, string prefix)
    {
        string line = output.Split('\n').Single(l => l.StartsWith(prefix + " loss=", StringComparison.Ordinal));
        return double.Parse(line[(line.IndexOf('=', prefix.Length) + 1)..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
    }

    private static double ParseValue(string line, string key)
    {
        string rest = line[(line.IndexOf(key, StringComparison.Ordinal) + key.Length)..];
        return double.Parse(rest.Split(' ')[0].Trim(), System.Globalization.CultureInfo.InvariantCulture);
    }

    private void Pack(string feed)
    {
        string root = RepositoryRoot();
        foreach (string project in new[] { "src/PromptLossWeight/PromptLossWeight.csproj", "src/PromptLossWeight.Llama/PromptLossWeight.Llama.csproj" })
            Dotnet($"pack \"{Path.Combine(root, project)}\" -c Release -o \"{feed}\" -p:Version={_version}", root);
    }

    private static string Dotnet(string arguments, string workingDirectory)
    {
        var (exitCode, output) = ProcessRunner.Run("dotnet", arguments, workingDirectory, Slow);
        exitCode.Should().Be(0, $"'dotnet {arguments}' must succeed; it printed:\n{output}");
        return output;
    }

    private static void AssertPackageContains(string package, params string[] entries)
    {
        using ZipArchive zip = ZipFile.OpenRead(package);
        zip.Entries.Select(e => e.FullName).Should().Contain(entries, $"{Path.GetFileName(package)} must ship them");
    }

    private static string ReadEntry(string package, string entry)
    {
        using ZipArchive zip = ZipFile.OpenRead(package);
        using var reader = new StreamReader(zip.GetEntry(entry)!.Open());
        return reader.ReadToEnd();
    }

    private static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "PromptLossWeight.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("PromptLossWeight.sln not found above the test output folder.");
    }
}
