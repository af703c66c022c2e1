using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace Race.Tests.Support;

/// <summary>What a sample printed and returned when run as its own process.</summary>
/// <param name="ExitCode">The process exit code.</param>
/// <param name="Output">Everything written to standard output.</param>
/// <param name="Error">Everything written to standard error.</param>
internal sealed record SampleRun(int ExitCode, string Output, string Error)
{
    /// <summary>The last non-empty line of standard error.</summary>
    public string LastErrorLine => Error.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "";

    /// <summary>True when either stream shows a .NET stack frame ("   at Namespace.Type.Method").</summary>
    public bool ShowsStackTrace => (Output + Error).Split('\n').Any(l => l.TrimStart().StartsWith("at ", StringComparison.Ordinal) && l.Contains('('));
}

/// <summary>
/// Runs the built sample programs (samples/&lt;Name&gt;/bin/&lt;Configuration&gt;/&lt;tfm&gt;/&lt;Name&gt;.dll, built with the test project
/// because it references them) with <c>dotnet</c>, as a user runs them, and captures exit code, output and error.
/// </summary>
internal static class SampleProcess
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(5);

    /// <summary>Runs samples/Race.</summary>
    public static SampleRun Race(params string[] args) => Run("Race", "Race", asUnprivilegedUser: false, args);

    /// <summary>The reason to skip when Open MPI's launcher is not installed, or null.</summary>
    public static string? MpirunMissing =>
        FindOnPath("mpirun") is null ? "Open MPI is not installed (apt-get install openmpi-bin; .ci/run installs it)" : null;

    /// <summary>
    /// Runs samples/Race as <paramref name="ranks"/> processes under <c>mpirun</c> (as root too, more ranks than cores
    /// allowed: CI's case), as a user starts a data-parallel sweep.
    /// </summary>
    public static SampleRun RaceUnderMpirun(int ranks, params string[] args) =>
        Run("Race", "Race", asUnprivilegedUser: false, args,
            [FindOnPath("mpirun")!, "-np", ranks.ToString(System.Globalization.CultureInfo.InvariantCulture), "--allow-run-as-root", "--oversubscribe", "--mca", "btl", "self,vader"]);

    /// <summary>Runs samples/DatasetStats.</summary>
    public static SampleRun DatasetStats(params string[] args) => Run("DatasetStats", "DatasetStats", asUnprivilegedUser: false, args);

    /// <summary>
    /// Runs a sample as a user without special rights, so that file permissions apply: unchanged when the tests do not run
    /// as root, otherwise through <c>setpriv</c> as the "nobody" user (root reads every folder whatever its mode).
    /// </summary>
    public static SampleRun RunUnprivileged(string sample, params string[] args) => Run(sample, sample, asUnprivilegedUser: true, args);

    /// <summary>True when the tests run as root (Unix).</summary>
    public static bool IsRoot => !OperatingSystem.IsWindows() && geteuid() == 0;

    private static SampleRun Run(string project, string assembly, bool asUnprivilegedUser, string[] args, string[]? launcher = null)
    {
        string dll = BuiltSample(project, assembly);
        var info = new ProcessStartInfo
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetTempPath(),
        };
        if (asUnprivilegedUser && IsRoot)
        {
            info.FileName = "setpriv";
            foreach (string a in new[] { "--reuid=65534", "--regid=65534", "--clear-groups", "--", DotnetHost() }) info.ArgumentList.Add(a);
            info.Environment["HOME"] = Path.GetTempPath();
        }
        else if (launcher is not null)
        {
            info.FileName = launcher[0];
            foreach (string a in launcher[1..]) info.ArgumentList.Add(a);
            info.ArgumentList.Add(DotnetHost());
        }
        else
        {
            info.FileName = DotnetHost();
        }
        info.ArgumentList.Add(dll);
        foreach (string a in args) info.ArgumentList.Add(a);
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment["DOTNET_NOLOGO"] = "1";
        info.Environment["NO_COLOR"] = "1";

        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {info.FileName}");
        var output = new StringBuilder();
        var error = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (error) error.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!process.WaitForExit(Timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{dll} {string.Join(' ', args)} did not finish within {Timeout}:\n{output}\n{error}");
        }
        process.WaitForExit();
        return new SampleRun(process.ExitCode, output.ToString(), error.ToString());
    }

    /// <summary>The sample's own build output, in the configuration and framework the tests were built in.</summary>
    private static string BuiltSample(string project, string assembly)
    {
        var testBin = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        string framework = testBin.Name, configuration = testBin.Parent!.Name;
        DirectoryInfo? root = testBin;
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "PromptLossWeight.sln"))) root = root.Parent;
        if (root is null) throw new InvalidOperationException($"No PromptLossWeight.sln above {AppContext.BaseDirectory}.");
        string dll = Path.Combine(root.FullName, "samples", project, "bin", configuration, framework, assembly + ".dll");
        if (!File.Exists(dll)) throw new FileNotFoundException($"{dll} is not built (the test project's build builds it).", dll);
        return dll;
    }

    /// <summary>The dotnet host running these tests (so the sample runs on the same runtime).</summary>
    private static string DotnetHost() =>
        Environment.ProcessPath is string host && Path.GetFileNameWithoutExtension(host) == "dotnet" ? host : FindOnPath("dotnet") ?? "dotnet";

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, name)).FirstOrDefault(File.Exists);

    [DllImport("libc", SetLastError = false)]
    private static extern uint geteuid();
}
