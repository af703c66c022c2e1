using System.Diagnostics;
using System.Text;

namespace PromptLossWeight.Llama.Tests.Support;

/// <summary>What a run of tests/DataParallelWorker printed and returned, and how long it took.</summary>
internal sealed record WorkerRun(int ExitCode, string Output, TimeSpan Elapsed)
{
    /// <summary>The lines a rank printed that start with <paramref name="prefix"/>.</summary>
    public IEnumerable<string> Lines(string prefix) => Output.Split('\n').Select(l => l.Trim()).Where(l => l.StartsWith(prefix, StringComparison.Ordinal));

    /// <summary>True when the output shows a .NET stack frame.</summary>
    public bool ShowsStackTrace => Output.Split('\n').Any(l => l.TrimStart().StartsWith("at ", StringComparison.Ordinal) && l.Contains('('));
}

/// <summary>
/// Launches the data-parallel worker (tests/DataParallelWorker, built with this test project) alone with <c>dotnet</c>,
/// or as <c>mpirun -np N</c> ranks, as a user launches a program, and captures what it prints.
/// </summary>
internal static class WorkerProcess
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(4);

    /// <summary>The reason to skip when Open MPI's launcher is not installed, or null.</summary>
    public static string? MpirunMissing =>
        FindOnPath("mpirun") is null ? "Open MPI is not installed (apt-get install openmpi-bin; .ci/run installs it)" : null;

    /// <summary>Runs one process without a launcher.</summary>
    public static WorkerRun Alone(IReadOnlyDictionary<string, string>? environment, params string[] args) =>
        Run(DotnetHost(), [Worker(), .. args], environment);

    /// <summary>Runs <paramref name="ranks"/> processes under mpirun (as root too, more ranks than cores allowed: CI's case).</summary>
    public static WorkerRun Mpirun(int ranks, params string[] args) =>
        Run(FindOnPath("mpirun")!, ["-np", ranks.ToString(System.Globalization.CultureInfo.InvariantCulture), "--allow-run-as-root", "--oversubscribe",
            "--mca", "btl", "self,vader", DotnetHost(), Worker(), .. args], environment: null);

    private static WorkerRun Run(string file, IReadOnlyList<string> args, IReadOnlyDictionary<string, string>? environment)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in args) info.ArgumentList.Add(a);
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment["TERM"] = "dumb";
        foreach (var (key, value) in environment ?? new Dictionary<string, string>()) info.Environment[key] = value;
        var clock = Stopwatch.StartNew();
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {file}");
        var output = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!process.WaitForExit(Limit))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish within {Limit} (a hang):\n{output}");
        }
        process.WaitForExit();
        return new WorkerRun(process.ExitCode, output.ToString(), clock.Elapsed);
    }

    /// <summary>
    /// The worker's build output, in the configuration and framework of these tests; or, where the tests were published
    /// (scripts/gpu-check.sh), the worker published beside them.
    /// </summary>
    private static string Worker()
    {
        string published = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", "DataParallelWorker", "DataParallelWorker.dll"));
        if (File.Exists(published)) return published;
        var testBin = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        string framework = testBin.Name, configuration = testBin.Parent!.Name;
        DirectoryInfo? root = testBin;
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "PromptLossWeight.sln"))) root = root.Parent;
        if (root is null) throw new InvalidOperationException($"No PromptLossWeight.sln above {AppContext.BaseDirectory}.");
        string dll = Path.Combine(root.FullName, "tests", "DataParallelWorker", "bin", configuration, framework, "DataParallelWorker.dll");
        return File.Exists(dll) ? dll : throw new FileNotFoundException($"{dll} is not built (the test project's build builds it).", dll);
    }

    private static string DotnetHost() =>
        Environment.ProcessPath is string host && Path.GetFileNameWithoutExtension(host) == "dotnet" ? host : FindOnPath("dotnet") ?? "dotnet";

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, name)).FirstOrDefault(File.Exists);
}
