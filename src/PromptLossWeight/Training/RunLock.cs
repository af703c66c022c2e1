using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;

namespace PromptLossWeight.Training;

/// <summary>
/// The output folder is held by another live training run (this process or another one): two runs writing the same
/// checkpoints would destroy each other's work. The message names the holder — process id, host and start time — and
/// the lock file.
/// </summary>
public sealed class OutputDirectoryInUseException : IOException
{
    /// <summary>Creates the exception for the lock file <paramref name="lockFile"/> held by the given process.</summary>
    public OutputDirectoryInUseException(string lockFile, int processId, string hostName, DateTimeOffset startedAt)
        : base(string.Create(CultureInfo.InvariantCulture,
            $"{Path.GetDirectoryName(lockFile)} is in use by another training run: process {processId} on host '{hostName}', started {startedAt.UtcDateTime:yyyy-MM-dd HH:mm:ss}Z " +
            $"(lock file {lockFile}). Wait for it to finish or choose another output folder; if that run is gone (e.g. it ran on another machine), delete the lock file."))
    {
        LockFile = lockFile;
        ProcessId = processId;
        HostName = hostName;
        StartedAt = startedAt;
    }

    /// <summary>The lock file in the output folder.</summary>
    public string LockFile { get; }

    /// <summary>The process id of the run that holds the folder.</summary>
    public int ProcessId { get; }

    /// <summary>The machine it runs on.</summary>
    public string HostName { get; }

    /// <summary>When it took the folder (UTC).</summary>
    public DateTimeOffset StartedAt { get; }
}

/// <summary>
/// The lock a training run holds on its output folder: the file <c>run.lock</c>, a small JSON object naming the
/// process (id, host, start time). It is created atomically (written under a temporary name, then linked into place
/// only if no lock exists), released when the run ends, and taken over — with a warning — when it was left behind by a
/// process that no longer runs on this host (e.g. after a kill -9).
/// </summary>
internal sealed class RunLock : IDisposable
{
    /// <summary>The lock file's name in the output folder.</summary>
    public const string FileName = "run.lock";

    private readonly string _token;
    private bool _released;

    private RunLock(string path, string token)
    {
        Path = path;
        _token = token;
    }

    /// <summary>The lock file.</summary>
    public string Path { get; }

    /// <summary>
    /// Takes the lock on <paramref name="outputDirectory"/> (creating the folder).
    /// </summary>
    /// <exception cref="OutputDirectoryInUseException">A live run holds it.</exception>
    public static RunLock Acquire(string outputDirectory, ILogger logger)
    {
        Directory.CreateDirectory(outputDirectory);
        string path = System.IO.Path.Combine(outputDirectory, FileName);
        string token = Guid.NewGuid().ToString("N");
        using Process self = Process.GetCurrentProcess();
        var content = new JsonObject
        {
            ["pid"] = Environment.ProcessId,
            ["host"] = Environment.MachineName,
            ["started"] = DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture),
            ["process_started"] = self.StartTime.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture),
            ["token"] = token,
        }.ToJsonString();
        for (int attempt = 0; ; attempt++)
        {
            if (TryCreate(path, content)) return new RunLock(path, token);
            Holder? holder = Read(path);
            if (holder is null) continue; // released between our attempt and the read: try again
            if (IsAlive(holder) || attempt >= 3)
                throw new OutputDirectoryInUseException(path, holder.ProcessId, holder.Host, holder.Started);
            logger.LogWarning("Taking over {LockFile}: it was left by process {Pid} on {Host} (started {Started:u}), which no longer runs.",
                path, holder.ProcessId, holder.Host, holder.Started);
            TryDelete(path, holder.Token);
        }
    }

    /// <summary>Removes the lock file if it is still this run's.</summary>
    public void Dispose()
    {
        if (_released) return;
        _released = true;
        TryDelete(Path, _token);
    }

    private static bool TryCreate(string path, string content)
    {
        string temp = path + ".tmp-" + Guid.NewGuid().ToString("N");
        File.WriteAllText(temp, content);
        try
        {
            File.Move(temp, path, overwrite: false); // fails when a lock exists: only one run can create it
            return true;
        }
        catch (IOException) when (File.Exists(path))
        {
            return false;
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    /// <summary>Deletes the lock file when it still carries <paramref name="token"/> (never another run's lock).</summary>
    private static void TryDelete(string path, string token)
    {
        if (Read(path) is { } holder && holder.Token == token)
        {
            try { File.Delete(path); } catch (IOException) { }
        }
    }

    private static Holder? Read(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (FileNotFoundException)
        {
            return null;
        }
        try
        {
            JsonObject o = JsonNode.Parse(text)?.AsObject() ?? throw new JsonException("not an object");
            return new Holder(
                o["pid"]!.GetValue<int>(),
                o["host"]!.GetValue<string>(),
                DateTimeOffset.Parse(o["started"]!.GetValue<string>(), CultureInfo.InvariantCulture),
                o["process_started"] is JsonNode ps ? DateTimeOffset.Parse(ps.GetValue<string>(), CultureInfo.InvariantCulture) : null,
                o["token"]?.GetValue<string>() ?? "");
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException or NullReferenceException)
        {
            // Unreadable content (hand-edited, or a foreign file): treat it as held, and say what is there.
            throw new IOException($"{path} exists but is not a lock file this library wrote ({e.Message}); delete it if no run is using {System.IO.Path.GetDirectoryName(path)}.", e);
        }
    }

    /// <summary>A holder on this host is alive when its pid runs and (where recorded) started when the lock says; another host's is assumed alive.</summary>
    private static bool IsAlive(Holder holder)
    {
        if (!string.Equals(holder.Host, Environment.MachineName, StringComparison.Ordinal)) return true;
        try
        {
            using Process process = Process.GetProcessById(holder.ProcessId);
            if (process.HasExited) return false;
            if (holder.ProcessStarted is DateTimeOffset recorded)
                return Math.Abs((process.StartTime.ToUniversalTime() - recorded.UtcDateTime).TotalSeconds) < 2; // else the pid was reused
            return true;
        }
        catch (ArgumentException)
        {
            return false; // no such process
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception or NotSupportedException)
        {
            return true; // cannot inspect it: assume it runs
        }
    }

    private sealed record Holder(int ProcessId, string Host, DateTimeOffset Started, DateTimeOffset? ProcessStarted, string Token);
}
