using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using PromptLossWeight.Llama.Checkpoints;
using PromptLossWeight.Llama.Model;
using PromptLossWeight.Masking;
using PromptLossWeight.Evaluation;
using PromptLossWeight.Training;

namespace PromptLossWeight.Samples.Race.Pretraining;

/// <summary>A pretrained model in the cache and how it got there.</summary>
/// <param name="Directory">The HF-format checkpoint folder (config.json, model.safetensors).</param>
/// <param name="Reused">True when an earlier run's model was taken from the cache.</param>
/// <param name="History">The pretraining evaluations (retrieval accuracy and losses on the validation documents).</param>
/// <param name="Seconds">Time spent now: the pretraining, or reading the cache.</param>
public sealed record PretrainedModel(string Directory, bool Reused, IReadOnlyList<MetricRecord> History, double Seconds);

/// <summary>
/// Pretrains a model once per settings and keeps it under <c>{output}/pretrained/{key}</c>, where the key is a hash of
/// the settings (<see cref="Key"/>): a re-run with the same settings reuses the model, a change of any setting gives
/// another key and a new pretraining (earlier entries stay where they are). The folder holds <c>settings.json</c>
/// (what the key was made from), the trainer's checkpoints under <c>training/</c> (an interrupted pretraining resumes
/// from them), the finished model as an HF checkpoint (<c>config.json</c>, <c>model.safetensors</c>) and, written
/// last, <c>pretrained.json</c>, which marks the entry complete.
/// </summary>
public static class PretrainedModelCache
{
    /// <summary>The cache folder under the output folder.</summary>
    public const string FolderName = "pretrained";

    /// <summary>The file that marks a finished entry (written last).</summary>
    public const string DoneFileName = "pretrained.json";

    /// <summary>The settings a key was made from.</summary>
    public const string SettingsFileName = "settings.json";

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    /// <summary>The cache key of <paramref name="settings"/>: the first 16 hex digits of the SHA-256 of their JSON.</summary>
    public static string Key(object settings) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(SettingsJson(settings))))[..16];

    /// <summary>The JSON the key is computed from.</summary>
    public static string SettingsJson(object settings) => JsonSerializer.Serialize(settings ?? throw new ArgumentNullException(nameof(settings)), Json);

    /// <summary>The folder of the entry for <paramref name="settings"/> under <paramref name="outputDirectory"/>.</summary>
    public static string EntryDirectory(string outputDirectory, object settings) => Path.Combine(outputDirectory, FolderName, Key(settings));

    /// <summary>The complete entry for <paramref name="settings"/>, or null when there is none.</summary>
    public static PretrainedModel? TryGet(string outputDirectory, object settings)
    {
        var watch = Stopwatch.StartNew();
        string dir = EntryDirectory(outputDirectory, settings);
        string done = Path.Combine(dir, DoneFileName);
        if (!File.Exists(done)) return null;
        string historyPath = Path.Combine(dir, MetricHistory.JsonLinesFileName);
        var history = File.Exists(historyPath) ? MetricHistory.FromJsonLines(File.ReadAllText(historyPath), historyPath) : [];
        return new PretrainedModel(dir, Reused: true, history, watch.Elapsed.TotalSeconds);
    }

    /// <summary>
    /// Returns the cached model for <paramref name="settings"/>, or pretrains it: <paramref name="newModel"/> makes
    /// the initial model, which the <see cref="Trainer"/> trains with <paramref name="trainerOptions"/> (its output
    /// folder is set here, and it resumes from the entry's latest checkpoint) on <paramref name="train"/>, evaluating on
    /// <paramref name="validation"/>. In a data-parallel run (<see cref="TrainerOptions.Distributed"/>) every rank
    /// trains and rank 0 alone writes the entry; the call returns on every rank once the entry is complete.
    /// </summary>
    public static PretrainedModel GetOrTrain(string outputDirectory, object settings, Func<LlamaForCausalLM> newModel, TrainerOptions trainerOptions,
        IReadOnlyList<MaskedExample> train, IReadOnlyList<MaskedExample> validation, ILogger logger, IEnumerable<TrainerCallback>? callbacks = null)
    {
        ArgumentNullException.ThrowIfNull(newModel);
        ArgumentNullException.ThrowIfNull(trainerOptions);
        if (TryGet(outputDirectory, settings) is { } cached) return cached;
        var watch = Stopwatch.StartNew();
        string dir = EntryDirectory(outputDirectory, settings);
        string done = Path.Combine(dir, DoneFileName);

        bool main = trainerOptions.Distributed?.IsMainProcess ?? true;
        if (main)
        {
            Directory.CreateDirectory(dir);
            File.WriteAllText(Path.Combine(dir, SettingsFileName), SettingsJson(settings));
        }
        LlamaForCausalLM model = newModel();
        try
        {
            TrainResult result;
            using (var trainer = new Trainer(model, trainerOptions with { OutputDirectory = Path.Combine(dir, "training"), ResumeFrom = TrainerOptions.Latest },
                       train, validation, logger))
            {
                foreach (TrainerCallback c in callbacks ?? []) trainer.Callbacks.Add(c);
                result = trainer.Train();
            }
            if (main)
            {
                LlamaCheckpoint.Save(model, dir);
                File.WriteAllText(Path.Combine(dir, MetricHistory.JsonLinesFileName), MetricHistory.ToJsonLines(result.History));
                File.WriteAllText(done, JsonSerializer.Serialize(new
                {
                    steps = result.Steps,
                    seconds = Math.Round(watch.Elapsed.TotalSeconds, 1),
                    finished = DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture),
                }, Json));
            }
            trainerOptions.Distributed?.Barrier("waiting for rank 0 to save the pretrained model");
            return new PretrainedModel(dir, Reused: false, result.History, watch.Elapsed.TotalSeconds);
        }
        finally
        {
            model.Dispose();
        }
    }
}
