using Microsoft.Extensions.Logging;
using PromptLossWeight.IO;
using PromptLossWeight.Evaluation;
using static TorchSharp.torch;

namespace PromptLossWeight.Training;

public partial class Trainer
{
    /// <summary>
    /// Checks that the output folder can be written, takes its run lock (refusing a second live run), and only then
    /// removes temporary folders left by an interrupted save (with the lock held they cannot be another run's).
    /// </summary>
    private RunLock PrepareOutputDirectory()
    {
        string dir = Options.OutputDirectory;
        try
        {
            Directory.CreateDirectory(dir);
            string probe = Path.Combine(dir, ".write-test-" + Guid.NewGuid().ToString("N"));
            File.WriteAllText(probe, "ok");
            File.Delete(probe);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
        {
            throw new IOException($"The output directory '{dir}' cannot be written ({ex.Message}); no training was done.", ex);
        }
        RunLock held = RunLock.Acquire(dir, Logger);
        try
        {
            foreach (string stale in Directory.EnumerateDirectories(dir, "." + TrainerCheckpoints.Prefix + "*.tmp-*"))
            {
                Logger.LogWarning("Removing the incomplete checkpoint folder {Folder} left by an interrupted save.", stale);
                Directory.Delete(stale, recursive: true);
            }
        }
        catch
        {
            held.Dispose();
            throw;
        }
        return held;
    }

    private string? ResolveResume()
    {
        string? resume = Options.ResumeFrom;
        if (resume is null) return null;
        if (resume == TrainerOptions.Latest)
        {
            // Only the run that last used the folder is resumed (null: a folder from before run ids, any checkpoint).
            string? runId = TrainerCheckpoints.CurrentRunId(Options.OutputDirectory);
            var (latest, rejected, otherRuns) = TrainerCheckpoints.LatestOfRun(Options.OutputDirectory, runId, Logger);
            if (latest is not null) return latest;
            if (rejected > 0 || otherRuns > 0)
                Logger.LogWarning("No usable checkpoint of the last run in {Dir} ({Rejected} rejected, {Other} of other runs left alone); starting from scratch.",
                    Options.OutputDirectory, rejected, otherRuns);
            else
                Logger.LogInformation("No checkpoint in {Dir}; starting from scratch.", Options.OutputDirectory);
            return null;
        }
        string path = Path.IsPathRooted(resume) ? resume : Path.Combine(Options.OutputDirectory, resume);
        if (!Directory.Exists(path)) throw new DirectoryNotFoundException($"The checkpoint to resume from, '{path}', does not exist.");
        string? problem = TrainerCheckpoints.Verify(path);
        if (problem is not null) throw new InvalidDataException($"The checkpoint to resume from, '{path}', cannot be used: {problem}.");
        return path;
    }

    /// <summary>Loads the parameters, optimizer state and random state of <paramref name="folder"/> and returns its trainer state.</summary>
    private TrainerState LoadCheckpoint(string folder)
    {
        string statePath = Path.Combine(folder, TrainerCheckpoints.StateFileName);
        TrainerState state = TrainerState.FromJson(File.ReadAllText(statePath), statePath);
        if (Options.RunKey is string key && state.RunKey != key)
            throw new ArgumentException($"{folder}: the checkpoint was made under run key {Describe(state.RunKey)}, and this run's " +
                $"TrainerOptions.RunKey is {Describe(key)}; resume with the settings that made it, or start fresh (ResumeFrom = null, or another OutputDirectory).");
        TrainerCheckpoints.CheckShapes(folder, _trainable);
        if (state.Seed != Options.Seed)
            Logger.LogWarning("Resuming a run made with seed {Old} under seed {New}: the data order of later epochs changes.", state.Seed, Options.Seed);
        if (state.Step > TotalSteps)
            Logger.LogWarning("Checkpoint {Folder} is at step {Step}, beyond this run's {Total} steps: nothing left to train.", folder, state.Step, TotalSteps);

        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            var model = SafeTensors.Load(Path.Combine(folder, TrainerCheckpoints.ModelFileName), Device);
            foreach (var (name, p) in _trainable) p.copy_(model[name]);

            var moments = SafeTensors.Load(Path.Combine(folder, TrainerCheckpoints.OptimizerFileName), Device);
            _optimizer!.Load(moments, state.OptimizerSteps, folder);

            var rng = SafeTensors.Load(Path.Combine(folder, TrainerCheckpoints.RngFileName));
            if (rng.TryGetValue("cpu_rng_state", out Tensor? rngState)) random.set_rng_state(rngState);
        }
        if (string.IsNullOrEmpty(state.RunId))
            state.RunId = TrainerCheckpoints.RunIdOf(folder) ?? NewRunId(); // a checkpoint from before run ids: it starts one
        TrainerCheckpoints.WriteCurrentRun(Options.OutputDirectory, state.RunId, state.RunKey);
        Logger.LogInformation("Resumed from {Folder} at step {Step}.", folder, state.Step);
        return state;
    }

    /// <summary>Writes a checkpoint of the model, the optimizer, the random state and <paramref name="state"/>, atomically; returns its folder.</summary>
    private string SaveCheckpoint(TrainerState state)
    {
        EnsureFiniteState(state.Step);
        string final = Path.Combine(Options.OutputDirectory, TrainerCheckpoints.FolderName(state.Step));
        if (Directory.Exists(final) && TrainerCheckpoints.RunIdOf(final) is var owner && owner != state.RunId)
            Logger.LogWarning("Replacing {Folder}, which an earlier run ({RunId}) wrote, with this run's checkpoint of the same step.", final, owner ?? "without a run id");
        string path = TrainerCheckpoints.WriteAtomically(Options.OutputDirectory, state.Step, state.RunId, temp =>
        {
            using var scope = NewDisposeScope();
            var parameters = _trainable.ToDictionary(p => p.Name, p => (Tensor)p.Parameter, StringComparer.Ordinal);
            SafeTensors.Save(Path.Combine(temp, TrainerCheckpoints.ModelFileName), parameters);
            SafeTensors.Save(Path.Combine(temp, TrainerCheckpoints.OptimizerFileName), _optimizer!.Moments());
            SafeTensors.Save(Path.Combine(temp, TrainerCheckpoints.RngFileName), new Dictionary<string, Tensor> { ["cpu_rng_state"] = random.get_rng_state() });
            File.WriteAllText(Path.Combine(temp, TrainerCheckpoints.StateFileName), state.ToJson());
        });
        Logger.LogInformation("Saved checkpoint {Path}.", path);
        return path;
    }

    /// <summary>This run's checkpoint folders (by the run id in their manifests), oldest first.</summary>
    private List<(long Step, string Path)> OwnCheckpoints() =>
        TrainerCheckpoints.Candidates(Options.OutputDirectory).Where(c => TrainerCheckpoints.RunIdOf(c.Path) == _state.RunId).ToList();

    /// <summary>Starts a new run in the output folder: returns a fresh id, recorded in <c>run.json</c>; earlier runs' checkpoints are named and left alone.</summary>
    private string StartNewRun()
    {
        string runId = NewRunId();
        var earlier = TrainerCheckpoints.Candidates(Options.OutputDirectory);
        if (earlier.Count > 0)
            Logger.LogInformation("{Dir} holds {Count} checkpoints of earlier runs ({First}…{Last}); this new run {RunId} leaves them alone and never resumes from them.",
                Options.OutputDirectory, earlier.Count, Path.GetFileName(earlier[0].Path), Path.GetFileName(earlier[^1].Path), runId);
        TrainerCheckpoints.WriteCurrentRun(Options.OutputDirectory, runId, Options.RunKey);
        return runId;
    }

    private static string Describe(string? runKey) => runKey is null ? "none" : $"'{runKey}'";

    private static string NewRunId() => Guid.NewGuid().ToString("N");

    /// <summary>Refuses to write a checkpoint whose parameters or optimizer moments are not finite.</summary>
    private void EnsureFiniteState(long step)
    {
        if (_optimizer!.FirstNonFinite() is string name)
            throw new NonFiniteTrainingException(step,
                $"Parameter '{name}' or its optimizer state is not finite at step {step}; refusing to write a checkpoint " +
                "(the checkpoints on disk are left as they are).");
    }

    /// <summary>
    /// Deletes this run's checkpoints beyond its last <c>SaveTotalLimit</c> (by step), never the best one; checkpoints
    /// of other runs in the folder are never touched. Reads only folder names and manifests (no hashing), so it stays
    /// cheap for large checkpoints.
    /// </summary>
    private void ApplyRetention()
    {
        if (Options.SaveTotalLimit is not int keep) return;
        var all = OwnCheckpoints();
        var kept = all.Skip(Math.Max(0, all.Count - keep)).Select(c => c.Step).ToHashSet();
        if (_state.BestStep is long best) kept.Add(best);
        foreach (var (_, path) in all.Where(c => !kept.Contains(c.Step)))
        {
            Logger.LogDebug("Removing checkpoint {Path} (SaveTotalLimit = {Keep}).", path, keep);
            Directory.Delete(path, recursive: true);
        }
    }
}
