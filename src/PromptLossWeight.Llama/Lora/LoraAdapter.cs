using System.Text.Json;
using System.Text.Json.Nodes;
using PromptLossWeight.IO;
using PromptLossWeight.Llama.Checkpoints;
using PromptLossWeight.Llama.Model;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PromptLossWeight.Llama.Lora;

/// <summary>
/// LoRA adapters injected into a <see cref="LlamaForCausalLM"/>: the chosen projections of every layer are wrapped in
/// <see cref="LoraLinear"/>, every base weight is frozen, and only the adapters train. Adapters are saved and loaded in
/// PEFT's format (<c>adapter_config.json</c> + <c>adapter_model.safetensors</c>), and can be merged into the base weights.
/// </summary>
public sealed class LoraAdapter
{
    /// <summary>File name of the adapter settings.</summary>
    public const string ConfigFileName = "adapter_config.json";

    /// <summary>File name of the adapter weights.</summary>
    public const string WeightsFileName = "adapter_model.safetensors";

    private const string PeftPrefix = "base_model.model.";

    private readonly Dictionary<string, LoraLinear> _layers;

    private LoraAdapter(LlamaForCausalLM model, LoraConfig config, Dictionary<string, LoraLinear> layers)
    {
        Model = model;
        Config = config;
        _layers = layers;
    }

    /// <summary>The model the adapters live in.</summary>
    public LlamaForCausalLM Model { get; }

    /// <summary>The adapter settings.</summary>
    public LoraConfig Config { get; }

    /// <summary>The wrapped projections by module name (e.g. <c>model.layers.0.self_attn.q_proj</c>).</summary>
    public IReadOnlyDictionary<string, LoraLinear> Layers => _layers;

    /// <summary>True while the adapters are merged into the base weights.</summary>
    public bool IsMerged => _layers.Values.All(l => l.IsMerged);

    /// <summary>
    /// Wraps the target projections of every layer of <paramref name="model"/> and freezes everything else.
    /// </summary>
    /// <param name="model">A model without adapters.</param>
    /// <param name="config">Rank, alpha, dropout and target modules.</param>
    /// <param name="seed">Seed for the initial A matrices (B starts at zero, so the model's outputs do not change).</param>
    /// <exception cref="InvalidOperationException">The model already has LoRA adapters.</exception>
    public static LoraAdapter Inject(LlamaForCausalLM model, LoraConfig config, long seed = 0)
    {
        config.Validate();
        foreach (var (_, p) in model.named_parameters()) p.requires_grad = false;
        var generator = new Generator((ulong)seed);
        var layers = new Dictionary<string, LoraLinear>(StringComparer.Ordinal);
        for (int i = 0; i < model.Model.Layers.Count; i++)
        {
            DecoderLayer layer = model.Model.Layers[i];
            foreach (var (owner, prefix) in new (IProjectionOwner, string)[] { (layer.SelfAttention, "self_attn"), (layer.Mlp, "mlp") })
                foreach (var (name, projection) in owner.Projections)
                {
                    if (!config.TargetModules.Contains(name)) continue;
                    if (projection is not Projection linear)
                        throw new InvalidOperationException($"model.layers.{i}.{prefix}.{name} is already wrapped ({projection.GetType().Name}); inject LoRA only once.");
                    var lora = new LoraLinear(linear, config.R, config.Alpha, config.Dropout, generator);
                    owner.SetProjection(name, lora);
                    layers[$"model.layers.{i}.{prefix}.{name}"] = lora;
                }
        }
        return new LoraAdapter(model, config, layers);
    }

    /// <summary>The parameters an optimiser should update: the A and B matrices only, with their full names.</summary>
    public IReadOnlyList<(string Name, Parameter Parameter)> TrainableParameters() =>
        Model.named_parameters().Where(p => p.parameter.requires_grad).Select(p => (p.name, p.parameter)).ToList();

    /// <summary>Folds scaling · B·A into each base weight (for fast inference or to save a merged checkpoint).</summary>
    public void Merge()
    {
        foreach (LoraLinear layer in _layers.Values) layer.Merge();
    }

    /// <summary>Takes the adapters back out of the base weights (the base is restored up to rounding in its dtype).</summary>
    public void Unmerge()
    {
        foreach (LoraLinear layer in _layers.Values) layer.Unmerge();
    }

    /// <summary>
    /// Writes the adapter in PEFT's format: <c>adapter_config.json</c> and <c>adapter_model.safetensors</c> (fp32, keys
    /// <c>base_model.model.model.layers.{i}.self_attn.q_proj.lora_A.weight</c> [r, in] and <c>…lora_B.weight</c> [out, r]).
    /// </summary>
    /// <param name="directory">Target folder (created if needed).</param>
    /// <param name="baseModelNameOrPath">Recorded as base_model_name_or_path, so tools know which model the adapter belongs to.</param>
    public void Save(string directory, string? baseModelNameOrPath = null)
    {
        Directory.CreateDirectory(directory);
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var (name, layer) in _layers)
            {
                tensors[$"{PeftPrefix}{name}.lora_A.weight"] = layer.LoraA.detach().to(ScalarType.Float32);
                tensors[$"{PeftPrefix}{name}.lora_B.weight"] = layer.LoraB.detach().to(ScalarType.Float32);
            }
            SafeTensors.Save(Path.Combine(directory, WeightsFileName), tensors, new Dictionary<string, string> { ["format"] = "pt" });
        }
        finally
        {
            foreach (Tensor t in tensors.Values) t.Dispose();
        }
        var json = new JsonObject
        {
            ["peft_type"] = "LORA",
            ["task_type"] = "CAUSAL_LM",
            ["r"] = Config.R,
            ["lora_alpha"] = Config.Alpha,
            ["lora_dropout"] = Config.Dropout,
            ["target_modules"] = new JsonArray(Config.TargetModules.Select(t => (JsonNode?)t).ToArray()),
            ["bias"] = "none",
            ["base_model_name_or_path"] = baseModelNameOrPath,
            ["fan_in_fan_out"] = false,
            ["inference_mode"] = true,
            ["init_lora_weights"] = true,
            ["modules_to_save"] = null,
            ["use_rslora"] = false,
            ["use_dora"] = false,
        };
        File.WriteAllText(Path.Combine(directory, ConfigFileName), json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>
    /// Reads a PEFT adapter folder, injects matching adapters into <paramref name="model"/> and loads their weights. The
    /// model is left in evaluation mode (adapter dropout off), as PEFT's <c>from_pretrained</c> leaves it; the Trainer
    /// switches to training mode itself, other callers call <c>train()</c>.
    /// </summary>
    /// <param name="model">A model without adapters.</param>
    /// <param name="directory">Folder with adapter_config.json and adapter_model.safetensors.</param>
    /// <param name="requireFiniteWeights">True (the default) rejects an adapter matrix holding NaN or infinity; false loads it as it is.</param>
    /// <exception cref="CheckpointMismatchException">Adapter tensors are missing, unexpected, mis-shaped or not floating point.</exception>
    /// <exception cref="NonFiniteWeightsException">An adapter matrix holds NaN or infinity (unless <paramref name="requireFiniteWeights"/> is false).</exception>
    public static LoraAdapter Load(LlamaForCausalLM model, string directory, bool requireFiniteWeights = true)
    {
        LoraConfig config = ReadConfig(directory);
        LoraAdapter adapter = Inject(model, config);
        adapter.LoadWeights(directory, requireFiniteWeights);
        model.eval();
        return adapter;
    }

    /// <summary>Reads <c>adapter_config.json</c>, rejecting PEFT options this library does not implement.</summary>
    public static LoraConfig ReadConfig(string directory)
    {
        string file = Path.Combine(directory, ConfigFileName);
        if (!File.Exists(file)) throw new FileNotFoundException($"No {ConfigFileName} in {directory}.", file);
        JsonObject root;
        try
        {
            root = JsonNode.Parse(File.ReadAllText(file)) as JsonObject ?? throw new InvalidDataException($"{file}: the top level must be a JSON object.");
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"{file}: not valid JSON ({ex.Message}).", ex);
        }
        Expect(root, file, "peft_type", "LORA");
        Expect(root, file, "bias", "none");
        foreach (string flag in new[] { "use_rslora", "use_dora", "fan_in_fan_out" })
            if (root[flag] is JsonValue v && v.TryGetValue(out bool on) && on)
                throw new InvalidDataException($"{file}: field \"{flag}\" is true, which is not supported.");
        foreach (string pattern in new[] { "rank_pattern", "alpha_pattern" })
            if (root[pattern] is JsonObject o && o.Count > 0)
                throw new InvalidDataException($"{file}: field \"{pattern}\" (per-module ranks) is not supported.");
        if (root["layers_to_transform"] is JsonNode layers && layers.GetValueKind() != JsonValueKind.Null)
            throw new InvalidDataException($"{file}: field \"layers_to_transform\" is not supported (adapters cover every layer).");
        if (root["target_modules"] is not JsonArray targets)
            throw new InvalidDataException($"{file}: field \"target_modules\" must be a list of module names (regular expressions are not supported).");
        try
        {
            return new LoraConfig
            {
                R = Number(root, file, "r") is var r && r == Math.Floor(r) ? (int)r : throw new InvalidDataException($"{file}: field \"r\" must be an integer."),
                Alpha = Number(root, file, "lora_alpha"),
                Dropout = root["lora_dropout"] is null ? 0 : Number(root, file, "lora_dropout"),
                TargetModules = targets.Select(t => t?.GetValue<string>() ?? "").ToArray(),
            }.Validate();
        }
        catch (ArgumentException ex)
        {
            throw new InvalidDataException($"{file}: {ex.Message}", ex);
        }
    }

    /// <summary>
    /// Loads A and B of every wrapped layer from <c>adapter_model.safetensors</c> in <paramref name="directory"/>. Every
    /// tensor's name, shape and dtype (F32, F16, BF16 or F64) is checked before anything is copied; the values are checked
    /// for NaN and infinity while they are read (so after that error the adapters may be partly overwritten).
    /// </summary>
    /// <param name="directory">Folder with adapter_model.safetensors.</param>
    /// <param name="requireFiniteWeights">True (the default) rejects a matrix holding NaN or infinity; false loads it as it is.</param>
    /// <exception cref="CheckpointMismatchException">Adapter tensors are missing, unexpected, mis-shaped or not floating point.</exception>
    /// <exception cref="NonFiniteWeightsException">A matrix holds NaN or infinity (unless <paramref name="requireFiniteWeights"/> is false).</exception>
    public void LoadWeights(string directory, bool requireFiniteWeights = true)
    {
        if (IsMerged) throw new InvalidOperationException("Unmerge the adapters before loading new weights into them.");
        string file = Path.Combine(directory, WeightsFileName);
        if (!File.Exists(file)) throw new FileNotFoundException($"No {WeightsFileName} in {directory}.", file);
        SafeTensorsHeader header = SafeTensors.ReadHeader(file);
        var targets = new Dictionary<string, Parameter>(StringComparer.Ordinal);
        foreach (var (name, layer) in _layers)
        {
            targets[$"{PeftPrefix}{name}.lora_A.weight"] = layer.LoraA;
            targets[$"{PeftPrefix}{name}.lora_B.weight"] = layer.LoraB;
        }
        // PEFT writes keys without the adapter name; accept the ".default." form some tools keep.
        var stored = header.Entries.ToDictionary(e => e.Name.Replace(".default.weight", ".weight", StringComparison.Ordinal), StringComparer.Ordinal);
        var missing = targets.Keys.Where(k => !stored.ContainsKey(k)).ToList();
        var unexpected = stored.Keys.Where(k => !targets.ContainsKey(k)).ToList();
        var misShaped = new List<string>();
        foreach (var (name, entry) in stored)
        {
            if (!targets.TryGetValue(name, out Parameter? p)) continue;
            if (!p.shape.SequenceEqual(entry.Shape))
                misShaped.Add($"{entry.Name}: expected [{string.Join(", ", p.shape)}], found [{string.Join(", ", entry.Shape)}] in {WeightsFileName}");
            else if (entry.DType is not ("F32" or "F16" or "BF16" or "F64"))
                misShaped.Add($"{entry.Name}: dtype {entry.DType} in {WeightsFileName} is not floating point (adapters are F32, F16, BF16 or F64)");
        }
        if (missing.Count > 0 || unexpected.Count > 0 || misShaped.Count > 0)
            throw new CheckpointMismatchException(file, missing, unexpected, misShaped);

        using var noGrad = no_grad();
        foreach (var (name, target) in targets)
        {
            using Tensor value = SafeTensors.LoadTensor(header, stored[name].Name, CPU, ScalarType.Float32);
            if (requireFiniteWeights)
                NonFiniteWeightsException.ThrowIfNonFinite(value, header, stored[name].Name, "pass requireFiniteWeights: false");
            target.copy_(value);
        }
    }

    private static void Expect(JsonObject root, string file, string field, string expected)
    {
        string? value = root[field] is JsonValue v && v.TryGetValue(out string? s) ? s : null;
        if (value != expected)
            throw new InvalidDataException($"{file}: field \"{field}\" must be \"{expected}\", got {(value is null ? "nothing" : $"\"{value}\"")}.");
    }

    private static double Number(JsonObject root, string file, string field) =>
        root[field] is JsonValue v && v.TryGetValue(out double d) ? d : throw new InvalidDataException($"{file}: field \"{field}\" must be a number.");
}
