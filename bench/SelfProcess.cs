using System.Diagnostics;

namespace PromptLossWeight.Bench;

/// <summary>Starts this program again as a child process (for memory measurements and environment settings).</summary>
internal static class SelfProcess
{
    public static ProcessStartInfo StartInfo(IEnumerable<string> args, IReadOnlyDictionary<string, string> environment, bool redirect)
    {
        string self = Environment.ProcessPath ?? throw new InvalidOperationException("Cannot find this program's path to start a child process.");
        var start = new ProcessStartInfo(self) { UseShellExecute = false, RedirectStandardOutput = redirect, RedirectStandardError = redirect };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet") start.ArgumentList.Add(typeof(SelfProcess).Assembly.Location);
        foreach (string arg in args) start.ArgumentList.Add(arg);
        foreach (var (name, value) in environment) start.Environment[name] = value;
        return start;
    }

    /// <summary>Runs this program again with extra environment variables, sharing the console; returns its exit code.</summary>
    public static int Rerun(IEnumerable<string> args, IReadOnlyDictionary<string, string> environment)
    {
        using Process child = Process.Start(StartInfo(args, environment, redirect: false))
            ?? throw new InvalidOperationException("Could not restart the benchmark.");
        child.WaitForExit();
        return child.ExitCode;
    }

    /// <summary>Runs this program again and returns its exit code, standard output and standard error.</summary>
    public static (int ExitCode, string Output, string Errors) Capture(IEnumerable<string> args, IReadOnlyDictionary<string, string> environment)
    {
        using Process child = Process.Start(StartInfo(args, environment, redirect: true))
            ?? throw new InvalidOperationException("Could not start a child process.");
        Task<string> errors = child.StandardError.ReadToEndAsync();
        string output = child.StandardOutput.ReadToEnd();
        child.WaitForExit();
        return (child.ExitCode, output, errors.Result);
    }
}
