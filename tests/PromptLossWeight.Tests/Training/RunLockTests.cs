using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using PromptLossWeight.Training;

namespace PromptLossWeight.Tests.Training;

public sealed class RunLockTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void A_second_run_on_a_held_folder_is_refused_naming_the_holders_process_host_and_start()
    {
        using RunLock first = RunLock.Acquire(_dir.Path, new ListLogger());

        Action second = () => RunLock.Acquire(_dir.Path, new ListLogger());

        second.Should().Throw<OutputDirectoryInUseException>()
            .Where(e => e.ProcessId == Environment.ProcessId && e.HostName == Environment.MachineName && e.LockFile == first.Path
                && (DateTimeOffset.UtcNow - e.StartedAt).TotalMinutes < 5)
            .WithMessage($"{_dir.Path} is in use by another training run: process {Environment.ProcessId} on host '{Environment.MachineName}', started *Z (lock file {first.Path}).*");
    }

    [Fact]
    public void Releasing_the_lock_frees_the_folder_for_the_next_run()
    {
        RunLock.Acquire(_dir.Path, new ListLogger()).Dispose();
        File.Exists(Path.Combine(_dir.Path, RunLock.FileName)).Should().BeFalse();

        using RunLock next = RunLock.Acquire(_dir.Path, new ListLogger());

        File.Exists(next.Path).Should().BeTrue();
    }

    [Fact]
    public void A_lock_left_by_a_process_that_has_exited_is_taken_over_with_a_warning()
    {
        int deadPid = ExitedProcessId();
        WriteLock(deadPid, Environment.MachineName, processStarted: null);
        var logger = new ListLogger();

        using RunLock taken = RunLock.Acquire(_dir.Path, logger);

        logger.Warnings.Should().ContainSingle().Which.Should().Contain($"left by process {deadPid} on {Environment.MachineName}").And.Contain("no longer runs");
        JsonNode.Parse(File.ReadAllText(taken.Path))!["pid"]!.GetValue<int>().Should().Be(Environment.ProcessId);
    }

    [Fact]
    public void A_lock_whose_process_id_now_belongs_to_a_younger_process_is_stale()
    {
        WriteLock(Environment.ProcessId, Environment.MachineName, processStarted: DateTimeOffset.UtcNow.AddDays(-3));
        var logger = new ListLogger();

        using RunLock taken = RunLock.Acquire(_dir.Path, logger);

        logger.Warnings.Should().ContainSingle().Which.Should().Contain("no longer runs");
    }

    [Fact]
    public void A_lock_held_on_another_host_is_respected_because_its_process_cannot_be_checked()
    {
        WriteLock(ExitedProcessId(), "gpu-node-7", processStarted: null);

        Action acquire = () => RunLock.Acquire(_dir.Path, new ListLogger());

        acquire.Should().Throw<OutputDirectoryInUseException>().Where(e => e.HostName == "gpu-node-7").WithMessage("*delete the lock file*");
    }

    [Fact]
    public void Releasing_a_lock_that_was_taken_over_leaves_the_new_holders_file_alone()
    {
        RunLock old = RunLock.Acquire(_dir.Path, new ListLogger());
        WriteLock(4242, "other-host", processStarted: null); // someone replaced it (e.g. after deleting it by hand)

        old.Dispose();

        JsonNode.Parse(File.ReadAllText(Path.Combine(_dir.Path, RunLock.FileName)))!["host"]!.GetValue<string>().Should().Be("other-host");
    }

    private void WriteLock(int pid, string host, DateTimeOffset? processStarted)
    {
        var o = new JsonObject
        {
            ["pid"] = pid, ["host"] = host, ["started"] = DateTimeOffset.UtcNow.AddHours(-1).ToString("O", CultureInfo.InvariantCulture),
            ["token"] = Guid.NewGuid().ToString("N"),
        };
        if (processStarted is DateTimeOffset s) o["process_started"] = s.ToString("O", CultureInfo.InvariantCulture);
        File.WriteAllText(Path.Combine(_dir.Path, RunLock.FileName), o.ToJsonString());
    }

    /// <summary>The id of a process that has already exited (a short "dotnet --version").</summary>
    private static int ExitedProcessId()
    {
        string dotnet = Environment.ProcessPath is string host && Path.GetFileNameWithoutExtension(host) == "dotnet" ? host : "dotnet";
        using Process p = Process.Start(new ProcessStartInfo(dotnet, "--version") { RedirectStandardOutput = true, UseShellExecute = false })!;
        p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return p.Id;
    }
}
