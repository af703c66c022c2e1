using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using PromptLossWeight.IO;
using PromptLossWeight.Models;
using static TorchSharp.torch;

namespace PromptLossWeight.Training;

/// <summary>
/// The <see cref="Trainer"/>'s own checkpoint folders (not to be confused with Hugging Face model checkpoints, which
/// PromptLossWeight.Llama reads): <c>checkpoint-{step}</c> under the output directory, each holding
/// <c>model.safetensors</c> (trainable parameters), <c>optimizer.safetensors</c> (AdamW moments),
/// <c>rng.safetensors</c> (random generator state), <c>trainer_state.json</c> (step, data position, metric history)
/// and <c>manifest.json</c> (SHA-256 of every file, written last). A folder is written under a temporary name and
/// renamed when complete, so a crash never leaves a half-written <c>checkpoint-*</c>; a folder whose manifest is
/// missing or whose hashes do not match is ignored with a warning. Only safetensors and JSON are ever read.
/// <para>Every manifest carries the id of the run that wrote it (<c>run_id</c>), and <c>run.json</c> in the output folder
/// names the run that last started or resumed there, so that retention and "resume the latest" never mix the
/// checkpoints of two runs that shared a folder.</para>
/// </summary>
public static class TrainerCheckpoints
{
    /// <summary>Prefix of checkpoint folder names.</summary>
    public const string Prefix = "checkpoint-";

    /// <summary>The manifest file name.</summary>
    public const string ManifestFileName = "manifest.json";

    /// <summary>The trainable parameters file name.</summary>
    public const string ModelFileName = "model.safetensors";

    internal const string OptimizerFileName = "optimizer.safetensors";
    internal const string RngFileName = "rng.safetensors";
    internal const string StateFileName = "trainer_state.json";
    internal const string Format = "PromptLossWeight.Checkpoint/1";

    /// <summary>The file in the output folder naming the run that last started or resumed there.</summary>
    public const string RunFileName = "run.json";

    /// <summary>The folder name of the checkpoint at <paramref name="step"/>.</summary>
    public static string FolderName(long step) => Prefix + step.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// The complete, verified checkpoints in <paramref name="outputDirectory"/>, oldest first, as (step, folder).
    /// Incomplete or corrupt folders are skipped with a warning on <paramref name="logger"/>.
    /// </summary>
    public static IReadOnlyList<(long Step, string Path)> ListComplete(string outputDirectory, ILogger? logger = null)
    {
        var result = new List<(long, string)>();
        foreach (var (step, dir) in Candidates(outputDirectory))
        {
            string? problem = Verify(dir);
            if (problem is null) result.Add((step, dir));
            else logger?.LogWarning("Ignoring checkpoint {Checkpoint}: {Problem}", dir, problem);
        }
        return result;
    }

    /// <summary>
    /// The newest complete checkpoint in <paramref name="outputDirectory"/>, or null. Folders are verified newest
    /// first, so only the ones newer than the answer are hashed; each rejected one is logged as a warning.
    /// </summary>
    /// <param name="outputDirectory">The output folder.</param>
    /// <param name="logger">Receives a warning for each rejected folder.</param>
    /// <param name="runId">Only checkpoints of this run (see <see cref="RunIdOf"/>); null: any run.</param>
    public static string? Latest(string outputDirectory, ILogger? logger = null, string? runId = null) =>
        LatestOfRun(outputDirectory, runId, logger).Path;

    /// <summary>The newest complete checkpoint of <paramref name="runId"/> (null: any run), and how many folders were rejected or belong to other runs.</summary>
    internal static (string? Path, int Rejected, int OtherRuns) LatestOfRun(string outputDirectory, string? runId, ILogger? logger)
    {
        int rejected = 0, others = 0;
        foreach (var (_, dir) in Candidates(outputDirectory).Reverse())
        {
            if (runId is not null && RunIdOf(dir) is var owner && owner != runId)
            {
                if (owner is not null || File.Exists(Path.Combine(dir, ManifestFileName))) { others++; continue; }
            }
            string? problem = Verify(dir);
            if (problem is null) return (dir, rejected, others);
            rejected++;
            logger?.LogWarning("Ignoring checkpoint {Checkpoint}: {Problem}", dir, problem);
        }
        return (null, rejected, others);
    }

    /// <summary>
    /// The id of the run that wrote <paramref name="checkpointFolder"/>, from its manifest; null when the manifest is
    /// missing, unreadable or older than run ids.
    /// </summary>
    public static string? RunIdOf(string checkpointFolder)
    {
        try
        {
            return JsonNode.Parse(File.ReadAllText(Path.Combine(checkpointFolder, ManifestFileName)))?["run_id"]?.GetValue<string>();
        }
        catch (Exception ex) when (ex is IOException or JsonException or InvalidOperationException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>The id of the run that last started or resumed in <paramref name="outputDirectory"/> (<c>run.json</c>), or null.</summary>
    /// <exception cref="InvalidDataException">The run file is not valid JSON.</exception>
    public static string? CurrentRunId(string outputDirectory) => ReadRunFile(outputDirectory)?["run_id"]?.GetValue<string>();

    /// <summary>
    /// The <see cref="TrainerOptions.RunKey"/> of the run that last started or resumed in
    /// <paramref name="outputDirectory"/> (<c>run.json</c>); null when there is no run file or the run had no key
    /// (<see cref="CurrentRunId"/> tells the two apart). Lets a program refuse a folder of other settings before it
    /// prepares anything.
    /// </summary>
    /// <exception cref="InvalidDataException">The run file is not valid JSON.</exception>
    public static string? RunKeyOf(string outputDirectory) => ReadRunFile(outputDirectory)?["run_key"]?.GetValue<string>();

    private static JsonNode? ReadRunFile(string outputDirectory)
    {
        string path = Path.Combine(outputDirectory, RunFileName);
        if (!File.Exists(path)) return null;
        try
        {
            return JsonNode.Parse(File.ReadAllText(path));
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            throw new InvalidDataException($"{path}: not a valid run file ({ex.Message}); delete it to start a new run in this folder.", ex);
        }
    }

    /// <summary>Records <paramref name="runId"/> (and its key, when it has one) as the folder's current run (written atomically).</summary>
    internal static void WriteCurrentRun(string outputDirectory, string runId, string? runKey)
    {
        string path = Path.Combine(outputDirectory, RunFileName);
        string temp = path + ".tmp-" + Guid.NewGuid().ToString("N");
        var run = new JsonObject { ["run_id"] = runId };
        if (runKey is not null) run["run_key"] = runKey;
        run["updated"] = DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture);
        File.WriteAllText(temp, run.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>Every <c>checkpoint-{step}</c> folder, oldest first, without verifying it.</summary>
    internal static IReadOnlyList<(long Step, string Path)> Candidates(string outputDirectory)
    {
        var result = new List<(long, string)>();
        if (!Directory.Exists(outputDirectory)) return result;
        foreach (string dir in Directory.EnumerateDirectories(outputDirectory, Prefix + "*"))
        {
            string name = Path.GetFileName(dir);
            if (long.TryParse(name.AsSpan(Prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out long step)) result.Add((step, dir));
        }
        return result.OrderBy(c => c.Item1).ToList();
    }

    /// <summary>
    /// Checks a checkpoint folder against its manifest. Returns null when it is complete and every SHA-256 matches,
    /// otherwise a sentence saying what is wrong.
    /// </summary>
    public static string? Verify(string checkpointFolder)
    {
        string manifestPath = Path.Combine(checkpointFolder, ManifestFileName);
        if (!File.Exists(manifestPath)) return $"no {ManifestFileName} (the checkpoint was not completed)";
        JsonObject manifest;
        try
        {
            manifest = JsonNode.Parse(File.ReadAllText(manifestPath))?.AsObject() ?? throw new JsonException("not an object");
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            return $"{ManifestFileName} is not valid JSON: {ex.Message}";
        }
        if (manifest["format"]?.GetValue<string>() != Format) return $"{ManifestFileName} does not declare format {Format}";
        if (manifest["files"] is not JsonObject files) return $"{ManifestFileName} lists no files";
        foreach (string required in new[] { ModelFileName, OptimizerFileName, RngFileName, StateFileName })
            if (!files.ContainsKey(required)) return $"{ManifestFileName} does not list {required}";
        foreach (var (file, hashNode) in files)
        {
            if (file.Contains('/') || file.Contains('\\') || file.Contains("..", StringComparison.Ordinal))
                return $"{ManifestFileName} names an unsafe path '{file}'";
            string path = Path.Combine(checkpointFolder, file);
            if (!File.Exists(path)) return $"{file} is missing";
            string expected = hashNode?.GetValue<string>() ?? "";
            if (!string.Equals(Sha256(path), expected, StringComparison.OrdinalIgnoreCase)) return $"{file} does not match its SHA-256 in the manifest (corrupt or modified)";
        }
        return null;
    }

    /// <summary>
    /// Loads the trainable parameters saved in <paramref name="checkpointFolder"/> into <paramref name="model"/>
    /// (for example the best checkpoint after training). Shapes must match; the folder is verified first.
    /// </summary>
    public static void LoadParameters(ICausalLanguageModel model, string checkpointFolder)
    {
        ArgumentNullException.ThrowIfNull(model);
        string? problem = Verify(checkpointFolder);
        if (problem is not null) throw new InvalidDataException($"Checkpoint {checkpointFolder} cannot be used: {problem}.");
        var parameters = TrainableParameters(model.Module);
        CheckShapes(checkpointFolder, parameters);
        string file = Path.Combine(checkpointFolder, ModelFileName);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var loaded = SafeTensors.Load(file);
        foreach (var (name, p) in parameters) p.copy_(loaded[name]);
    }

    internal static List<(string Name, TorchSharp.Modules.Parameter Parameter)> TrainableParameters(nn.Module module) =>
        module.named_parameters().Where(p => p.parameter.requires_grad).Select(p => (p.name, p.parameter)).ToList();

    /// <summary>Throws a clear error when the checkpoint's parameters differ in names or shapes from the model's.</summary>
    internal static void CheckShapes(string checkpointFolder, IReadOnlyList<(string Name, TorchSharp.Modules.Parameter Parameter)> parameters)
    {
        string file = Path.Combine(checkpointFolder, ModelFileName);
        SafeTensorsHeader header = SafeTensors.ReadHeader(file);
        var problems = new List<string>();
        foreach (var (name, p) in parameters)
        {
            SafeTensorsEntry? e = header.Find(name);
            if (e is null) problems.Add($"parameter '{name}' {Shape(p.shape)} is missing from the checkpoint");
            else if (!e.Shape.SequenceEqual(p.shape)) problems.Add($"parameter '{name}' is {Shape(e.Shape)} in the checkpoint but {Shape(p.shape)} in the model");
        }
        var names = parameters.Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
        foreach (SafeTensorsEntry e in header.Entries.Where(e => !names.Contains(e.Name)))
            problems.Add($"the checkpoint has a parameter '{e.Name}' {Shape(e.Shape)} that the model does not train");
        if (problems.Count > 0)
            throw new InvalidDataException(
                $"Checkpoint {checkpointFolder} was saved from a model of a different shape: {string.Join("; ", problems.Take(5))}" +
                (problems.Count > 5 ? $" (and {problems.Count - 5} more)" : "") + ".");
    }

    /// <summary>Writes the files into a temporary folder, adds the manifest, then renames it to its final name.</summary>
    internal static string WriteAtomically(string outputDirectory, long step, string runId, Action<string> writeFiles)
    {
        string final = Path.Combine(outputDirectory, FolderName(step));
        string temp = Path.Combine(outputDirectory, "." + FolderName(step) + ".tmp-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(temp);
        try
        {
            writeFiles(temp);
            var files = new JsonObject();
            foreach (string file in Directory.EnumerateFiles(temp).Order(StringComparer.Ordinal))
                files[Path.GetFileName(file)] = Sha256(file);
            var manifest = new JsonObject { ["format"] = Format, ["step"] = step, ["run_id"] = runId, ["files"] = files };
            File.WriteAllText(Path.Combine(temp, ManifestFileName), manifest.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            if (Directory.Exists(final)) Directory.Delete(final, recursive: true);
            Directory.Move(temp, final);
            return final;
        }
        finally
        {
            if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
        }
    }

    internal static string Sha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    private static string Shape(IEnumerable<long> shape) => "[" + string.Join(", ", shape) + "]";
}
