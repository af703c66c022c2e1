using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PromptLossWeight.Llama.Hub;
using PromptLossWeight.IO;
using PromptLossWeight.Llama.Model;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PromptLossWeight.Llama.Checkpoints;

/// <summary>
/// Hugging Face checkpoints of the Llama-shaped families (Llama, Mistral, Qwen2/2.5, Qwen3, Gemma 2, Gemma 3 text,
/// chosen by <c>config.json</c>'s <c>model_type</c>; see <see cref="ModelFamily"/>): a folder with <c>config.json</c> and
/// either <c>model.safetensors</c> or shards listed in <c>model.safetensors.index.json</c>. Loading reads one tensor at a time straight into the model's
/// parameters (converting dtype and device), so memory never holds two copies of the model.
/// </summary>
public static class LlamaCheckpoint
{
    /// <summary>File name of a single-file checkpoint.</summary>
    public const string SingleFileName = "model.safetensors";

    /// <summary>File name of the shard index of a sharded checkpoint.</summary>
    public const string IndexFileName = "model.safetensors.index.json";

    /// <summary>Default largest shard written by <see cref="Save"/> (5 GB, as Hugging Face uses).</summary>
    public const long DefaultMaxShardBytes = 5_000_000_000;

    /// <summary>
    /// Loads config and weights from a checkpoint folder or a Hugging Face repo id.
    /// </summary>
    /// <param name="directory">Folder with config.json and model.safetensors or an index plus shards, or a repo id such as
    /// "meta-llama/Llama-2-7b-hf" (optionally "@revision") found in the local Hugging Face cache (see <see cref="HuggingFaceHub"/>).</param>
    /// <param name="device">Where to put the model; null picks CUDA when available, else the CPU.</param>
    /// <param name="dtype">Float32, BFloat16 or Float16; null uses the config's torch_dtype.</param>
    /// <param name="logger">Receives one line per file loaded.</param>
    /// <param name="hub">Cache locations and whether a repo id missing from the cache is downloaded; null: the defaults (no download).</param>
    /// <exception cref="HubException">A repo id is not cached and may not or could not be downloaded.</exception>
    /// <param name="requireFiniteWeights">
    /// True (the default) rejects a weight holding NaN or infinity with a <see cref="NonFiniteWeightsException"/>; false
    /// loads it as it is.
    /// </param>
    /// <returns>The model in evaluation mode (as Hugging Face's <c>from_pretrained</c> returns it); the Trainer switches to
    /// training mode itself, other callers call <c>train()</c>.</returns>
    /// <exception cref="CheckpointMismatchException">Tensors are missing, unexpected, of the wrong shape or not floating point.</exception>
    /// <exception cref="NonFiniteWeightsException">A weight holds NaN or infinity (unless <paramref name="requireFiniteWeights"/> is false).</exception>
    public static LlamaForCausalLM Load(string directory, Device? device = null, ScalarType? dtype = null, ILogger? logger = null, HubOptions? hub = null,
        bool requireFiniteWeights = true)
    {
        directory = HuggingFaceHub.ResolveModelFolder(directory, hub);
        LlamaConfig config = LlamaConfig.Load(directory);
        var model = new LlamaForCausalLM(config, device, dtype, initialize: false);
        try
        {
            LoadWeights(model, directory, logger, requireFiniteWeights);
        }
        catch
        {
            model.Dispose();
            throw;
        }
        model.eval();
        return model;
    }

    /// <summary>
    /// Copies the weights of the checkpoint in <paramref name="directory"/> into <paramref name="model"/>. All headers are
    /// checked first, so a mismatch is reported (with every missing, unexpected and mis-shaped tensor) before anything changes.
    /// </summary>
    /// <remarks>
    /// Non-finite values can only be seen while the data is read: when one is found, the tensors before it have already
    /// been copied, so the model should be discarded. The model's training or evaluation mode is left as it was.
    /// </remarks>
    /// <param name="model">The model to fill.</param>
    /// <param name="directory">Folder with model.safetensors or an index plus shards.</param>
    /// <param name="logger">Receives one line per file loaded.</param>
    /// <param name="requireFiniteWeights">True (the default) rejects a weight holding NaN or infinity; false loads it as it is.</param>
    /// <exception cref="CheckpointMismatchException">Tensors are missing, unexpected, of the wrong shape or not floating point.</exception>
    /// <exception cref="NonFiniteWeightsException">A weight holds NaN or infinity (unless <paramref name="requireFiniteWeights"/> is false).</exception>
    /// <exception cref="FileNotFoundException">Neither model.safetensors nor model.safetensors.index.json exists.</exception>
    public static void LoadWeights(LlamaForCausalLM model, string directory, ILogger? logger = null, bool requireFiniteWeights = true)
    {
        logger ??= NullLogger.Instance;
        IReadOnlyDictionary<string, Parameter> targets = Tensors(model);
        IReadOnlyDictionary<string, (SafeTensorsHeader Header, SafeTensorsEntry Entry)> stored = ReadHeaders(directory);

        var missing = targets.Keys.Where(name => !stored.ContainsKey(name)).ToList();
        var unexpected = new List<string>();
        var misShaped = new List<string>();
        foreach (var (name, (header, entry)) in stored)
        {
            if (!targets.TryGetValue(name, out Parameter? target))
            {
                if (!IsIgnorable(name, model.Config)) unexpected.Add(name);
                continue;
            }
            if (!target.shape.SequenceEqual(entry.Shape))
                misShaped.Add($"{name}: expected {Shape(target.shape)}, found {Shape(entry.Shape)} in {Path.GetFileName(header.Path)}");
            else if (entry.DType is not ("F32" or "BF16" or "F16" or "F64"))
                misShaped.Add($"{name}: dtype {entry.DType} in {Path.GetFileName(header.Path)} is not floating point");
        }
        if (missing.Count > 0 || unexpected.Count > 0 || misShaped.Count > 0)
            throw new CheckpointMismatchException(WeightsSource(directory), missing, unexpected, misShaped, LayerHint(model.Config, stored.Keys));

        using var noGrad = no_grad();
        foreach (var shard in stored.Where(kv => targets.ContainsKey(kv.Key)).GroupBy(kv => kv.Value.Header.Path))
        {
            foreach (var (name, (header, _)) in shard)
            {
                using Tensor value = SafeTensors.LoadTensor(header, name, CPU, model.DType); // one tensor at a time
                if (requireFiniteWeights)
                    NonFiniteWeightsException.ThrowIfNonFinite(value, header, name, "pass requireFiniteWeights: false");
                targets[name].copy_(value);
            }
            logger.LogInformation("Loaded {Count} tensors from {File}", shard.Count(), shard.Key);
        }
    }

    /// <summary>
    /// Writes <paramref name="model"/> as a Hugging Face checkpoint: config.json plus model.safetensors, or shards of at most
    /// <paramref name="maxShardBytes"/> with model.safetensors.index.json. LoRA adapters are not included: merge them first
    /// to save a fine-tuned model, or save them separately as a PEFT adapter.
    /// </summary>
    /// <param name="model">The model to save.</param>
    /// <param name="directory">Target folder (created if needed; an earlier checkpoint there is replaced).</param>
    /// <param name="maxShardBytes">Largest shard; a model that fits is written as one file.</param>
    /// <param name="dtype">Dtype to store; null keeps the model's.</param>
    public static void Save(LlamaForCausalLM model, string directory, long maxShardBytes = DefaultMaxShardBytes, ScalarType? dtype = null)
    {
        if (maxShardBytes <= 0) throw new ArgumentOutOfRangeException(nameof(maxShardBytes), maxShardBytes, "The shard size must be positive.");
        ScalarType storeType = dtype ?? model.DType;
        string dtypeName = LlamaConfig.DtypeName(storeType);
        Directory.CreateDirectory(directory);
        RemoveExistingWeights(directory);

        var tensors = Tensors(model).ToList();
        long elementSize = storeType == ScalarType.Float32 ? 4 : 2;
        var shards = new List<List<KeyValuePair<string, Parameter>>> { new() };
        long current = 0, total = 0;
        foreach (var pair in tensors)
        {
            long bytes = pair.Value.numel() * elementSize;
            if (current > 0 && current + bytes > maxShardBytes)
            {
                shards.Add([]);
                current = 0;
            }
            shards[^1].Add(pair);
            current += bytes;
            total += bytes;
        }

        var metadata = new Dictionary<string, string> { ["format"] = "pt" };
        var weightMap = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i < shards.Count; i++)
        {
            string fileName = shards.Count == 1 ? SingleFileName : $"model-{i + 1:D5}-of-{shards.Count:D5}.safetensors";
            var converted = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            try
            {
                foreach (var (name, p) in shards[i])
                {
                    converted[name] = p.detach().to(storeType);
                    weightMap[name] = fileName;
                }
                SafeTensors.Save(Path.Combine(directory, fileName), converted, metadata);
            }
            finally
            {
                foreach (Tensor t in converted.Values) t.Dispose();
            }
        }
        if (shards.Count > 1) ShardIndex.Write(Path.Combine(directory, IndexFileName), weightMap, total);
        (model.Config with { TorchDtype = dtypeName }).Save(Path.Combine(directory, "config.json"));
    }

    /// <summary>
    /// The model's tensors under their checkpoint names: the Hugging Face names, with LoRA wrappers looked through
    /// (<c>q_proj.base_layer.weight</c> is stored as <c>q_proj.weight</c>) and adapter weights left out.
    /// </summary>
    public static IReadOnlyDictionary<string, Parameter> Tensors(LlamaForCausalLM model)
    {
        var result = new Dictionary<string, Parameter>(StringComparer.Ordinal);
        foreach (var (name, p) in model.named_parameters())
        {
            if (name.Contains(".lora_A.", StringComparison.Ordinal) || name.Contains(".lora_B.", StringComparison.Ordinal)) continue;
            result[name.Replace(".base_layer.", ".", StringComparison.Ordinal)] = p;
        }
        return result;
    }

    private static Dictionary<string, (SafeTensorsHeader, SafeTensorsEntry)> ReadHeaders(string directory)
    {
        string single = Path.Combine(directory, SingleFileName);
        string index = Path.Combine(directory, IndexFileName);
        var result = new Dictionary<string, (SafeTensorsHeader, SafeTensorsEntry)>(StringComparer.Ordinal);
        if (File.Exists(index))
        {
            IReadOnlyDictionary<string, string> map = ShardIndex.Read(index);
            var headers = map.Values.Distinct().ToDictionary(f => f, SafeTensors.ReadHeader);
            foreach (var (name, file) in map)
            {
                SafeTensorsHeader header = headers[file];
                SafeTensorsEntry entry = header.Find(name)
                    ?? throw new InvalidDataException($"{index} says tensor {name} is in {Path.GetFileName(file)}, but that file has no such tensor.");
                result[name] = (header, entry);
            }
        }
        else if (File.Exists(single))
        {
            SafeTensorsHeader header = SafeTensors.ReadHeader(single);
            foreach (SafeTensorsEntry entry in header.Entries) result[entry.Name] = (header, entry);
        }
        else
            throw new FileNotFoundException($"No weights in {directory}: expected {SingleFileName} or {IndexFileName}.", single);
        return result;
    }

    /// <summary>The file a mismatch is reported against: the shard index, else model.safetensors.</summary>
    private static string WeightsSource(string directory)
    {
        string index = Path.Combine(directory, IndexFileName);
        return File.Exists(index) ? index : Path.Combine(directory, SingleFileName);
    }

    /// <summary>Says so when config.json's num_hidden_layers disagrees with the layers the weights hold; null otherwise.</summary>
    private static string? LayerHint(LlamaConfig config, IEnumerable<string> storedNames)
    {
        const string prefix = "model.layers.";
        var layers = new HashSet<int>();
        foreach (string name in storedNames)
        {
            if (!name.StartsWith(prefix, StringComparison.Ordinal)) continue;
            int end = name.IndexOf('.', prefix.Length);
            if (end > prefix.Length && int.TryParse(name.AsSpan(prefix.Length, end - prefix.Length), System.Globalization.NumberStyles.None,
                    System.Globalization.CultureInfo.InvariantCulture, out int layer))
                layers.Add(layer);
        }
        int stored = layers.Count == 0 ? 0 : layers.Max() + 1;
        return stored == config.NumHiddenLayers
            ? null
            : $"config.json says num_hidden_layers = {config.NumHiddenLayers}, but the weights hold {stored} layers";
    }

    private static void RemoveExistingWeights(string directory)
    {
        string index = Path.Combine(directory, IndexFileName);
        if (File.Exists(index))
        {
            foreach (string shard in ShardIndex.Read(index).Values.Distinct()) File.Delete(shard);
            File.Delete(index);
        }
        string single = Path.Combine(directory, SingleFileName);
        if (File.Exists(single)) File.Delete(single);
    }

    private static bool IsIgnorable(string name, LlamaConfig config) =>
        name.EndsWith("rotary_emb.inv_freq", StringComparison.Ordinal)             // older checkpoints store the rotary table
        || (config.TieWordEmbeddings && name == "lm_head.weight");                 // a tied head is the embedding itself

    private static string Shape(IEnumerable<long> shape) => "[" + string.Join(", ", shape) + "]";
}
