using PromptLossWeight.Llama.Hub;
namespace PromptLossWeight.Llama.Tokenizers;

/// <summary>A tokenizer loaded from a model folder, the file it came from, and what the loader noticed on the way.</summary>
/// <param name="Tokenizer">The tokenizer.</param>
/// <param name="File">The file it was loaded from.</param>
/// <param name="Notes">Files skipped or settings not applied, in words (empty when everything was used).</param>
public sealed record TokenizerLoadResult(HfTokenizer Tokenizer, string File, IReadOnlyList<string> Notes);

/// <summary>
/// Loads the tokenizer of a Hugging Face model folder the way <c>AutoTokenizer</c> picks its files:
/// <c>tokenizer.json</c> at the root first (any BPE tokenizer.json: Llama 3, Qwen, DeepSeek, Llama 2, Gemma), then
/// <c>tokenizer.model</c>, then <c>original/tokenizer.model</c> (where Llama-3 downloads keep Meta's tiktoken file).
/// A <c>tokenizer.model</c> is a SentencePiece model (encoded exactly as SentencePiece does) or a tiktoken file,
/// told apart by its content. <c>tokenizer_config.json</c>, when present, names BOS/EOS and added tokens.
/// </summary>
public static class TokenizerLoader
{
    /// <summary>The files looked for, in order (relative to the model folder).</summary>
    public static IReadOnlyList<string> TokenizerFiles { get; } = ["tokenizer.json", "tokenizer.model", Path.Combine("original", "tokenizer.model")];

    /// <summary>
    /// Loads the folder's tokenizer. Throws <see cref="DirectoryNotFoundException"/>, <see cref="FileNotFoundException"/>
    /// (no tokenizer file) or <see cref="InvalidDataException"/> listing every file that could not be loaded and why.
    /// </summary>
    /// <param name="folder">The model folder, or a Hugging Face repo id ("org/name", optionally "@revision") resolved
    /// through the local cache (<see cref="HuggingFaceHub.ResolveModelFolder"/>).</param>
    /// <param name="hub">Cache locations and whether a repo id missing from the cache is downloaded; null: the defaults (no download).</param>
    public static TokenizerLoadResult Load(string folder, HubOptions? hub = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        folder = HuggingFaceHub.ResolveModelFolder(folder, hub);
        if (!Directory.Exists(folder))
            throw new DirectoryNotFoundException($"Model folder not found: {folder}");
        var notes = new List<string>();
        string configPath = Path.Combine(folder, "tokenizer_config.json");
        TokenizerConfig? config = File.Exists(configPath) ? TokenizerConfig.Read(configPath) : null;

        var failures = new List<string>();
        foreach (string file in TokenizerFiles.Select(f => Path.Combine(folder, f)).Where(File.Exists))
        {
            try
            {
                var tokenizer = LoadFile(file, config, notes);
                notes.AddRange(failures.Select(f => $"skipped: {f}"));
                return new TokenizerLoadResult(tokenizer, file, notes);
            }
            catch (Exception e) when (e is InvalidDataException or NotSupportedException)
            {
                failures.Add(e.Message);
            }
        }
        if (failures.Count == 0)
            throw new FileNotFoundException(
                $"No tokenizer in {folder}: expected {string.Join(", ", TokenizerFiles)}.", Path.Combine(folder, TokenizerFiles[0]));
        throw new InvalidDataException($"Could not load a tokenizer from {folder}:\n - {string.Join("\n - ", failures)}");
    }

    /// <summary>
    /// Loads one tokenizer file: a <c>*.json</c> file as tokenizer.json, anything else as a SentencePiece model or
    /// a tiktoken file (told apart by content; a file that is neither gets the SentencePiece parser's error, naming
    /// the file). <paramref name="tokenizerConfig"/> is an optional tokenizer_config.json for BOS/EOS and added tokens.
    /// </summary>
    public static HfTokenizer LoadFile(string path, string? tokenizerConfig = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path))
            throw new FileNotFoundException($"Tokenizer file not found: {path}", path);
        var config = tokenizerConfig is null ? null : TokenizerConfig.Read(tokenizerConfig);
        return LoadFile(path, config, []);
    }

    private static HfTokenizer LoadFile(string path, TokenizerConfig? config, List<string> notes)
    {
        if (path.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
        {
            var tokenizer = HfTokenizer.LoadTokenizerJson(path, config?.BosToken, config?.EosToken);
            foreach (var (name, token) in new[] { ("bos_token", config?.BosToken), ("eos_token", config?.EosToken) })
            {
                if (token is null)
                    notes.Add($"{path}: no {name} in tokenizer_config.json; the tokenizer has none.");
            }
            return tokenizer;
        }
        byte[] bytes = File.ReadAllBytes(path);
        return LooksLikeTiktoken(bytes)
            ? LoadTiktokenModel(bytes, path, config, notes)
            : LoadSentencePieceModel(bytes, path, config, notes);
    }

    private static HfTokenizer LoadSentencePieceModel(byte[] bytes, string path, TokenizerConfig? config, List<string> notes)
    {
        var tokenizer = HfTokenizer.LoadSentencePiece(bytes, path);
        foreach (var (name, wanted, actual) in new[] { ("bos_token", config?.BosToken, tokenizer.BosToken), ("eos_token", config?.EosToken, tokenizer.EosToken) })
        {
            if (wanted is not null && wanted != actual)
                notes.Add($"tokenizer_config.json {name} '{wanted}' differs from the SentencePiece model's '{actual}'; the model's is used.");
        }
        var beyond = config?.AddedTokens.Where(kv => kv.Key >= tokenizer.VocabSize).ToList() ?? [];
        if (beyond.Count > 0)
            notes.Add($"added tokens beyond the SentencePiece vocabulary are not supported and were ignored: {string.Join(", ", beyond.Select(kv => $"'{kv.Value}' ({kv.Key})"))}.");
        return tokenizer;
    }

    private static HfTokenizer LoadTiktokenModel(byte[] bytes, string path, TokenizerConfig? config, List<string> notes)
    {
        var (count, maxRank) = TiktokenFile.Validate(bytes, path);
        int first = Math.Max(count, maxRank + 1);
        var special = Llama3Tokens.SpecialTokens(first);
        foreach (var (id, content) in config?.AddedTokens ?? new Dictionary<int, string>())
        {
            if (id < first)
            {
                notes.Add($"tokenizer_config.json added token '{content}' ({id}) is a BPE rank of the tiktoken file; ignored.");
                continue;
            }
            foreach (string old in special.Where(kv => kv.Value == id).Select(kv => kv.Key).ToList())
                special.Remove(old);
            special[content] = id;
        }
        string bos = config?.BosToken ?? Llama3Tokens.BeginOfText;
        string eos = config?.EosToken ?? Llama3Tokens.EndOfText;
        foreach (var (name, token) in new[] { ("bos_token", bos), ("eos_token", eos) })
        {
            if (!special.ContainsKey(token))
                throw new InvalidDataException($"{path}: {name} '{token}' (from tokenizer_config.json) is not a special token of this tiktoken tokenizer.");
        }
        notes.Add($"{path}: tiktoken format, loaded with the Llama-3 pre-tokenization pattern and special tokens from id {first}.");
        return HfTokenizer.LoadTiktoken(bytes, path, special, bos, eos);
    }

    /// <summary>A tiktoken file starts with a line "base64 rank"; a SentencePiece model is binary protobuf.</summary>
    private static bool LooksLikeTiktoken(byte[] bytes)
    {
        int end = Array.IndexOf(bytes, (byte)'\n');
        int length = end < 0 ? Math.Min(bytes.Length, 256) : end;
        if (length == 0)
            return false;
        var line = System.Text.Encoding.ASCII.GetString(bytes, 0, length).TrimEnd('\r');
        return System.Text.RegularExpressions.Regex.IsMatch(line, @"^[A-Za-z0-9+/]+=*\s+\d+$");
    }
}
