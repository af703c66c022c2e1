using System.Text.Json;
using Microsoft.Extensions.Logging;
using PromptLossWeight.IO;
using PromptLossWeight.Evaluation;
using static TorchSharp.torch;

namespace PromptLossWeight.Training;

public partial class Trainer
{
    private void PrepareOutputDirectory()
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
        foreach (string stale in Directory.EnumerateDirectories(dir, "." + TrainerCheckpoints.Prefix + "*.tmp-*"))
        {
            Logger.LogWarning("Removing the incomplete checkpoint folder {Folder} left by an interrupted save.", stale);
            Directory.Delete(stale, recursive: true);
        }
    }

    private string? ResolveResume()
    {
        string? resume = Options.ResumeFrom;
        if (resume is null) return null;
        if (resume == TrainerOptions.Latest)
        {
            string? latest = TrainerCheckpoints.Latest(Options.OutputDirectory, Logger);
            if (latest is null) Logger.LogInformation("No complete checkpoint in {Dir}; starting from scratch.", Options.OutputDirectory);
            return latest;
        }
        string path = Path.IsPathRooted(resume) ? resume : Path.Combine(Options.OutputDirectory, resume);
        if (!Directory.Exists(path)) throw new DirectoryNotFoundException($"The checkpoint to resume from, '{path}', does not exist.");
        string? problem = TrainerCheckpoints.Verify(path);
        if (problem is not null) throw new InvalidDataException($"The checkpoint to resume from, '{path}', cannot be used: {problem}.");
        return path;
    }

    private void LoadCheckpoint(string folder)
    {
        TrainerCheckpoints.CheckShapes(folder, _trainable);
        TrainerState state;
        string statePath = Path.Combine(folder, TrainerCheckpoints.StateFileName);
        try
        {
            state = JsonSerializer.Deserialize<TrainerState>(File.ReadAllText(statePath), TrainerState.Json)
                ?? throw new JsonException("empty document");
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"{statePath}: not a valid trainer state ({ex.Message}).", ex);
        }
        if (state.FormatVersion != 1) throw new InvalidDataException($"{statePath}: unsupported format version {state.FormatVersion}.");
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
        _state = state;
        _history.Clear();
        _history.AddRange(MetricHistory.FromJsonLines(state.History, statePath));
        Logger.LogInformation("Resumed from {Folder} at step {Step}.", folder, state.Step);
    }

    private string SaveCheckpoint()
    {
        EnsureFiniteState();
        _state.History = MetricHistory.ToJsonLines(_history);
        string path = TrainerCheckpoints.WriteAtomically(Options.OutputDirectory, _state.Step, temp =>
        {
            using var scope = NewDisposeScope();
            var parameters = _trainable.ToDictionary(p => p.Name, p => (Tensor)p.Parameter, StringComparer.Ordinal);
            SafeTensors.Save(Path.Combine(temp, TrainerCheckpoints.ModelFileName), parameters);

            (Dictionary<string, Tensor> moments, Dictionary<string, long> steps) = _optimizer!.Save();
            _state.OptimizerSteps = steps;
            SafeTensors.Save(Path.Combine(temp, TrainerCheckpoints.OptimizerFileName), moments);
            SafeTensors.Save(Path.Combine(temp, TrainerCheckpoints.RngFileName), new Dictionary<string, Tensor> { ["cpu_rng_state"] = random.get_rng_state() });
            File.WriteAllText(Path.Combine(temp, TrainerCheckpoints.StateFileName), JsonSerializer.Serialize(_state, TrainerState.Json));
        });
        Logger.LogInformation("Saved checkpoint {Path}.", path);
        _lastCheckpoint = path;
        return path;
    }

    /// <summary>Refuses to write a checkpoint whose parameters or optimizer moments are not finite.</summary>
    private void EnsureFiniteState()
    {
        if (_optimizer!.FirstNonFinite() is string name)
            throw new NonFiniteTrainingException(_state.Step,
                $"Parameter '{name}' or its optimizer state is not finite at step {_state.Step}; refusing to write a checkpoint " +
                "(the checkpoints on disk are left as they are).");
    }

    /// <summary>
    /// Deletes checkpoints beyond the last <c>SaveTotalLimit</c> (by step), never the best one. Works from folder
    /// names only (no hashing), so it stays cheap for large checkpoints.
    /// </summary>
    private void ApplyRetention()
    {
        if (Options.SaveTotalLimit is not int keep) return;
        var all = TrainerCheckpoints.Candidates(Options.OutputDirectory);
        var kept = all.Skip(Math.Max(0, all.Count - keep)).Select(c => c.Step).ToHashSet();
        if (_state.BestStep is long best) kept.Add(best);
        foreach (var (_, path) in all.Where(c => !kept.Contains(c.Step)))
        {
            Logger.LogDebug("Removing checkpoint {Path} (SaveTotalLimit = {Keep}).", path, keep);
            Directory.Delete(path, recursive: true);
        }
    }
}
