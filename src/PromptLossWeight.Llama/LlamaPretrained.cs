using Microsoft.Extensions.Logging;
using PromptLossWeight.Llama.Hub;
using PromptLossWeight.Llama.Chat;
using PromptLossWeight.Llama.Checkpoints;
using PromptLossWeight.Llama.Model;
using PromptLossWeight.Llama.Tokenizers;
using TorchSharp;

namespace PromptLossWeight.Llama;

/// <summary>What <see cref="LlamaPretrained.Load"/> found in a model folder.</summary>
/// <param name="Model">The model with its weights (<see cref="LlamaCheckpoint.Load"/>).</param>
/// <param name="Tokenizer">The tokenizer (<see cref="TokenizerLoader.Load"/>).</param>
/// <param name="Template">The model's own chat template (<see cref="ChatTemplate.FromPretrained(string, HfTokenizer)"/>), or a built-in one when the folder has none.</param>
/// <param name="Notes">What the loaders noticed: skipped files, the template used.</param>
public sealed record LlamaPretrainedResult(LlamaForCausalLM Model, HfTokenizer Tokenizer, IChatTemplate Template, IReadOnlyList<string> Notes);

/// <summary>What <see cref="LlamaPretrained.LoadTokenizer"/> found in a model folder: its tokenizer and chat template, without the weights.</summary>
/// <param name="Tokenizer">The tokenizer (<see cref="TokenizerLoader.Load"/>).</param>
/// <param name="Template">The model's own chat template, or a built-in one when the folder has none.</param>
/// <param name="TokenizerFile">The tokenizer file read.</param>
/// <param name="Folder">The model folder (a repo id resolved through the cache).</param>
/// <param name="Notes">What the loaders noticed: skipped files, the template used.</param>
public sealed record PretrainedTokenizer(HfTokenizer Tokenizer, ChatTemplate Template, string TokenizerFile, string Folder, IReadOnlyList<string> Notes);

/// <summary>
/// One call that loads model, tokenizer and chat template from a Hugging Face model folder of any supported family
/// (llama, mistral, qwen2, qwen3, gemma2, gemma3_text; see <see cref="ModelFamily"/>).
/// </summary>
public static class LlamaPretrained
{
    /// <summary>
    /// Loads <c>config.json</c> and the safetensors weights (<see cref="LlamaCheckpoint.Load"/>), the tokenizer
    /// (<c>tokenizer.json</c>, <c>tokenizer.model</c> or <c>original/tokenizer.model</c>) and the chat template
    /// (the folder's own <c>chat_template</c>; without one, the built-in template whose special tokens the tokenizer
    /// has: llama-3, chatml, or llama-2 for a SentencePiece tokenizer). Errors name the file; a tokenizer with more ids
    /// than the model's vocab_size is refused.
    /// </summary>
    /// <param name="folder">The model folder, or a Hugging Face repo id ("org/name", optionally "@revision") resolved
    /// through the local cache (<see cref="HuggingFaceHub.ResolveModelFolder"/>).</param>
    /// <param name="device">Where to put the model; null picks CUDA when available, else the CPU.</param>
    /// <param name="dtype">Float32, BFloat16 or Float16; null uses the config's torch_dtype.</param>
    /// <param name="logger">Receives one line per weights file loaded.</param>
    /// <param name="hub">Cache locations and whether a repo id missing from the cache is downloaded; null: the defaults (no download).</param>
    public static LlamaPretrainedResult Load(string folder, torch.Device? device = null, torch.ScalarType? dtype = null, ILogger? logger = null,
        HubOptions? hub = null)
    {
        PretrainedTokenizer loaded = LoadTokenizer(folder, hub);
        folder = loaded.Folder;
        var tokenizer = loaded.Tokenizer;
        var model = LlamaCheckpoint.Load(folder, device, dtype, logger);
        if (tokenizer.VocabSize > model.Config.VocabSize)
        {
            model.Dispose();
            throw new InvalidDataException(
                $"{loaded.TokenizerFile}: the tokenizer has {tokenizer.VocabSize} ids but {Path.Combine(folder, "config.json")} has vocab_size {model.Config.VocabSize}; they do not belong together.");
        }
        return new LlamaPretrainedResult(model, tokenizer, loaded.Template, loaded.Notes);
    }

    /// <summary>
    /// The tokenizer and chat template of a model folder (as <see cref="Load"/> finds them), without loading the
    /// weights: for callers that make several models from one folder.
    /// </summary>
    /// <param name="folder">The model folder, or a Hugging Face repo id resolved through the local cache.</param>
    /// <param name="hub">Cache locations and download policy; null: the defaults (no download).</param>
    public static PretrainedTokenizer LoadTokenizer(string folder, HubOptions? hub = null)
    {
        folder = HuggingFaceHub.ResolveModelFolder(folder, hub);
        var tokenizer = TokenizerLoader.Load(folder);
        var notes = tokenizer.Notes.ToList();
        ChatTemplate template;
        try
        {
            template = ChatTemplate.FromPretrained(folder, tokenizer.Tokenizer);
            notes.Add($"chat template: {template.Name}");
        }
        catch (InvalidDataException e) when (e.Message.Contains("no chat template", StringComparison.Ordinal))
        {
            template = BuiltIn(tokenizer.Tokenizer, folder);
            notes.Add($"no chat template in {folder}; using the built-in {template.Name} template.");
        }
        return new PretrainedTokenizer(tokenizer.Tokenizer, template, tokenizer.File, folder, notes);
    }

    private static ChatTemplate BuiltIn(HfTokenizer tokenizer, string folder)
    {
        if (tokenizer.TryGetSpecialTokenId(Llama3Tokens.EndOfTurn, out _))
            return new Llama3ChatTemplate(tokenizer);
        if (tokenizer.TryGetSpecialTokenId(ChatMLTemplate.ImStart, out _))
            return new ChatMLTemplate(tokenizer);
        if (tokenizer.BosToken is not null && tokenizer.EosToken is not null)
            return new Llama2ChatTemplate(tokenizer);
        throw new InvalidDataException($"{folder}: no chat template, and the tokenizer fits no built-in template (llama-3, chatml, llama-2).");
    }
}
