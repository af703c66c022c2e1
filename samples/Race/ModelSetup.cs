using Microsoft.Extensions.Logging;
using PromptLossWeight.Llama.Hub;
using PromptLossWeight.Llama.Runtime;
using PromptLossWeight.Llama;
using PromptLossWeight.Llama.Chat;
using PromptLossWeight.Llama.Checkpoints;
using PromptLossWeight.Llama.Lora;
using PromptLossWeight.Llama.Model;
using PromptLossWeight.Llama.Tokenizers;
using PromptLossWeight.Loss;
using PromptLossWeight.Models;
using PromptLossWeight.Samples.Race.Synthetic;
using TorchSharp;
using static TorchSharp.torch;

namespace PromptLossWeight.Samples.Race;

/// <summary>
/// The tokenizer, chat template and a fresh model per run: either the small Llama trained from scratch with the
/// word-level tokenizer, or an HF checkpoint with LoRA adapters on its attention projections.
/// </summary>
public sealed class ModelSetup
{
    private readonly Func<ICausalLanguageModel> _newModel;

    private ModelSetup(ChatTemplate template, long padId, IWeightedLoss loss, string description, Func<ICausalLanguageModel> newModel,
        LlamaConfig? smallConfig = null, string? vocabularyPath = null)
    {
        Template = template;
        PadTokenId = padId;
        Loss = loss;
        Description = description;
        _newModel = newModel;
        SmallConfig = smallConfig;
        VocabularyPath = vocabularyPath;
    }

    /// <summary>The architecture of the small model trained here (null for a checkpoint given with --model).</summary>
    public LlamaConfig? SmallConfig { get; }

    /// <summary>The word-level vocabulary of the small model (null for a checkpoint).</summary>
    public string? VocabularyPath { get; }

    /// <summary>The tokenizer of <see cref="Template"/>.</summary>
    public HfTokenizer Tokenizer => Template.Tokenizer;

    /// <summary>
    /// The same setup, but every run starts from the pretrained checkpoint in <paramref name="directory"/> (fully
    /// fine-tuned, or with LoRA adapters when <paramref name="lora"/> is given).
    /// </summary>
    public ModelSetup FromPretrained(string directory, Device device, string description, LoraConfig? lora = null, int seed = 0) =>
        new(Template, PadTokenId, Loss, $"{Description}; {description}", () =>
        {
            LlamaForCausalLM model = LlamaCheckpoint.Load(directory, device);
            if (lora is not null) LoraAdapter.Inject(model, lora, seed);
            return model;
        }, SmallConfig, VocabularyPath);

    /// <summary>The chat template (with its tokenizer) that renders the examples.</summary>
    public ChatTemplate Template { get; }

    /// <summary>Token id for padding.</summary>
    public long PadTokenId { get; }

    /// <summary>The training loss (chunked for large vocabularies).</summary>
    public IWeightedLoss Loss { get; }

    /// <summary>One line describing the model.</summary>
    public string Description { get; }

    /// <summary>A fresh model (same initial weights every time), so every PLW starts from the same point.</summary>
    public ICausalLanguageModel NewModel() => _newModel();

    /// <summary>The device named by "auto", "cpu", "cuda" or "cuda:N".</summary>
    public static Device ParseDevice(string name)
    {
        if (name.Equals("auto", StringComparison.OrdinalIgnoreCase)) return TorchRuntime.DefaultDevice();
        try
        {
            var device = new Device(name);
            TorchRuntime.EnsureLoaded(device.type);
            if (device.type == DeviceType.CUDA && !cuda.is_available())
                throw new ArgumentException($"--device {name}: CUDA is not available (reference a TorchSharp CUDA package, see the README).");
            return device;
        }
        catch (Exception e) when (e is not ArgumentException)
        {
            throw new ArgumentException($"--device {name}: {e.Message}");
        }
    }

    /// <summary>
    /// Builds the setup the options ask for. <paramref name="writeFiles"/> false reads the vocabulary that another
    /// process (rank 0 of a data-parallel run) built in the output folder instead of building it.
    /// </summary>
    public static ModelSetup Create(RaceExperimentOptions options, RaceData data, Device device, ILogger logger, bool writeFiles = true)
    {
        return options.ModelDirectory is null ? Small(options, data, device, writeFiles) : Checkpoint(options, device, logger);
    }

    private static ModelSetup Small(RaceExperimentOptions options, RaceData data, Device device, bool writeFiles)
    {
        string vocabulary = WordLevelTokenizer.DefaultVocabularyPath;
        if (options.DataPath is not null)
        {
            // Real data needs its own words: a word-level vocabulary from the training texts, after the shipped words
            // (the answer letters, the instruction and the pretraining corpus's names, towns and things).
            vocabulary = Path.Combine(options.OutputDirectory, "vocab.txt");
            if (writeFiles)
            {
                Directory.CreateDirectory(options.OutputDirectory);
                WordLevelTokenizer.BuildVocabulary(data.Train.Select(Data.RacePrompt.Prompt), vocabulary, WordLevelTokenizer.DefaultWords());
            }
        }
        HfTokenizer tokenizer = WordLevelTokenizer.Load(vocabulary);
        LlamaConfig config = SmallModelConfig(options, tokenizer);
        var m = options.SmallModel;
        string description = $"Llama from scratch: {m.Layers} layers, d={m.HiddenSize}, {m.Heads} heads, SwiGLU {m.IntermediateSize}, " +
            $"word-level vocabulary of {tokenizer.VocabSize} ({vocabulary})";
        return new ModelSetup(WordLevelTokenizer.Template(tokenizer), tokenizer.SpecialTokenId(WordLevelTokenizer.Pad), new LogitsWeightedLoss(), description,
            () => new LlamaForCausalLM(config, device).InitializeWeights(options.Seed), config, vocabulary);
    }

    /// <summary>The architecture of the small model trained from scratch for <paramref name="options"/> over <paramref name="tokenizer"/>.</summary>
    public static LlamaConfig SmallModelConfig(RaceExperimentOptions options, HfTokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(tokenizer);
        var m = options.SmallModel;
        return new LlamaConfig
        {
            HiddenSize = m.HiddenSize, IntermediateSize = m.IntermediateSize, NumHiddenLayers = m.Layers,
            NumAttentionHeads = m.Heads, NumKeyValueHeads = m.Heads, RopeTheta = m.RopeTheta, VocabSize = tokenizer.VocabSize,
            MaxPositionEmbeddings = Math.Max(options.MaxLength ?? 2048, 64), TieWordEmbeddings = true, RmsNormEps = 1e-5,
            EosTokenIds = [tokenizer.EosId!.Value],
        }.Validate();
    }

    private static ModelSetup Checkpoint(RaceExperimentOptions options, Device device, ILogger logger)
    {
        string dir = HuggingFaceHub.ResolveModelFolder(options.ModelDirectory!, options.Hub);
        if (!File.Exists(Path.Combine(dir, "config.json")))
            throw new ArgumentException($"--model {dir}: no config.json (expected an HF checkpoint folder of a supported family: {string.Join(", ", LlamaConfig.SupportedModelTypes)}).");
        LlamaConfig config = LlamaConfig.Load(Path.Combine(dir, "config.json"));
        string vocabularyPath = Path.Combine(dir, "vocab.txt");
        ChatTemplate template;
        if (File.Exists(vocabularyPath) && !TokenizerLoader.TokenizerFiles.Any(f => File.Exists(Path.Combine(dir, f))))
        {
            // A checkpoint of this sample's small word-level model: its vocab.txt, and its own template if it has one.
            HfTokenizer words = WordLevelTokenizer.Load(vocabularyPath);
            template = options.ChatTemplate is { } chosen ? ChatTemplate.Create(chosen, words)
                : HasChatTemplate(dir) ? ChatTemplate.FromPretrained(dir, words) : WordLevelTokenizer.Template(words);
        }
        else
        {
            // The library's loader: tokenizer.json, tokenizer.model or original/tokenizer.model, and the folder's own
            // chat template (a built-in one when it has none); --chat-template overrides the template.
            PretrainedTokenizer pretrained = LlamaPretrained.LoadTokenizer(dir);
            if (pretrained.Tokenizer.VocabSize > config.VocabSize)
                throw new ArgumentException($"--model {dir}: {pretrained.TokenizerFile} has {pretrained.Tokenizer.VocabSize} ids but config.json has vocab_size {config.VocabSize}; they do not belong together.");
            template = options.ChatTemplate is { } chosen ? ChatTemplate.Create(chosen, pretrained.Tokenizer) : pretrained.Template;
        }
        HfTokenizer tokenizer = template.Tokenizer;
        string templateName = template.Name;
        var lora = new LoraConfig { R = options.LoraRank, Alpha = 2.0 * options.LoraRank, Dropout = 0.05, TargetModules = ["q_proj", "k_proj", "v_proj", "o_proj"] }.Validate();
        string name = dir == options.ModelDirectory ? dir : $"{options.ModelDirectory} ({dir})";
        string description = $"{name}: {config.NumHiddenLayers} layers, d={config.HiddenSize}, vocabulary {config.VocabSize}; " +
            $"LoRA r={lora.R}, alpha={lora.Alpha} on q/k/v/o; template {templateName}";
        return new ModelSetup(template, tokenizer.EosId ?? 0, new ChunkedWeightedCrossEntropy(), description, () =>
        {
            LlamaForCausalLM model = LlamaCheckpoint.Load(dir, device, logger: logger);
            LoraAdapter.Inject(model, lora, options.Seed);
            return model;
        });
    }

    /// <summary>Whether the folder carries its own chat template (chat_template.jinja or tokenizer_config.json's chat_template).</summary>
    private static bool HasChatTemplate(string dir)
    {
        if (File.Exists(Path.Combine(dir, "chat_template.jinja")) || File.Exists(Path.Combine(dir, "chat_template.json"))) return true;
        string config = Path.Combine(dir, "tokenizer_config.json");
        return File.Exists(config) && File.ReadAllText(config).Contains("\"chat_template\"", StringComparison.Ordinal);
    }
}
