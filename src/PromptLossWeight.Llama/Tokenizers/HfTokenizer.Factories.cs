using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace PromptLossWeight.Llama.Tokenizers;

public sealed partial class HfTokenizer
{
    /// <summary>
    /// Loads a SentencePiece BPE <c>tokenizer.model</c> (Llama 2, Mistral, any SentencePiece BPE model with the
    /// identity normalizer) and encodes exactly as SentencePiece does (the library's own implementation of its BPE). Control and
    /// unknown pieces (&lt;s&gt;, &lt;/s&gt;, &lt;unk&gt;) become the special tokens; text never merges into them or into
    /// byte pieces. BOS/EOS come from the model's trainer spec.
    /// Throws <see cref="FileNotFoundException"/> or <see cref="InvalidDataException"/> naming the file.
    /// </summary>
    public static HfTokenizer LoadSentencePiece(string path) => LoadSentencePiece(ReadFile(path), path);

    /// <summary>Loads a SentencePiece model from its bytes; <paramref name="source"/> names it in errors.</summary>
    public static HfTokenizer LoadSentencePiece(byte[] modelBytes, string source)
    {
        ArgumentNullException.ThrowIfNull(modelBytes);
        var model = SentencePieceModel.Parse(modelBytes, source);
        var encoder = new SentencePieceBpe(model);
        var special = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < model.Pieces.Count; i++)
        {
            if (model.Pieces[i].Type is PieceType.Control or PieceType.Unknown)
                special[model.Pieces[i].Piece] = i;
        }
        string? bos = model.BosId >= 0 ? model.Pieces[model.BosId].Piece : null;
        string? eos = model.EosId >= 0 ? model.Pieces[model.EosId].Piece : null;
        foreach (var (name, id) in new[] { (bos, model.BosId), (eos, model.EosId) })
        {
            if (name is not null)
                special[name] = id;
        }
        return new HfTokenizer(encoder, TokenizerKind.SentencePiece, source, special, bos, eos, model.Pieces.Count, model.UnkId);
    }

    /// <summary>
    /// Loads a tiktoken BPE file (lines of "base64-token rank") with the given special tokens, pre-tokenization
    /// pattern and BOS/EOS names. Special ids must come after the ranks.
    /// Throws <see cref="FileNotFoundException"/> or <see cref="InvalidDataException"/> naming the file (and line).
    /// </summary>
    public static HfTokenizer LoadTiktoken(
        string path, IReadOnlyDictionary<string, int> specialTokens, string? bosToken, string? eosToken,
        string pattern = Llama3Tokens.Pattern) =>
        LoadTiktoken(ReadFile(path), path, specialTokens, bosToken, eosToken, pattern);

    /// <summary>Loads a tiktoken BPE file from its bytes; <paramref name="source"/> names it in errors.</summary>
    public static HfTokenizer LoadTiktoken(
        byte[] fileBytes, string source, IReadOnlyDictionary<string, int> specialTokens, string? bosToken, string? eosToken,
        string pattern = Llama3Tokens.Pattern)
    {
        ArgumentNullException.ThrowIfNull(fileBytes);
        ArgumentNullException.ThrowIfNull(specialTokens);
        ArgumentException.ThrowIfNullOrEmpty(pattern);
        var (_, maxRank) = TiktokenFile.Validate(fileBytes, source);
        foreach (var (token, id) in specialTokens)
        {
            if (id <= maxRank)
                throw new ArgumentException($"{source}: special token '{token}' has id {id}, which is a BPE rank (the ranks go up to {maxRank}).", nameof(specialTokens));
        }

        TiktokenTokenizer tokenizer;
        try
        {
            // The pre-tokenizer knows no special tokens, so special-token text in a message is split as text.
            var preTokenizer = new RegexPreTokenizer(new Regex(pattern, RegexOptions.Compiled), specialTokens: null);
            using var stream = new MemoryStream(fileBytes);
            tokenizer = TiktokenTokenizer.Create(stream, preTokenizer, normalizer: null, specialTokens: specialTokens.ToDictionary());
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"{source}: Microsoft.ML.Tokenizers could not load the tiktoken file: {e.Message}", e);
        }
        int vocabSize = Math.Max(maxRank, specialTokens.Count == 0 ? -1 : specialTokens.Values.Max()) + 1;
        return new HfTokenizer(tokenizer, TokenizerKind.Tiktoken, source, specialTokens, bosToken, eosToken, vocabSize, unknownId: null);
    }

    /// <summary>
    /// Loads Llama 3's <c>tokenizer.model</c> (tiktoken format) with its 256 special tokens after the ranks
    /// (see <see cref="Llama3Tokens"/>); BOS is &lt;|begin_of_text|&gt;, EOS &lt;|end_of_text|&gt;.
    /// </summary>
    public static HfTokenizer LoadLlama3(string path)
    {
        byte[] bytes = ReadFile(path);
        var (count, maxRank) = TiktokenFile.Validate(bytes, path);
        return LoadTiktoken(bytes, path, Llama3Tokens.SpecialTokens(Math.Max(count, maxRank + 1)),
            Llama3Tokens.BeginOfText, Llama3Tokens.EndOfText);
    }

    /// <summary>
    /// Wraps any Microsoft.ML.Tokenizers tokenizer. Its own special tokens (and SentencePiece BOS/EOS/unknown)
    /// are merged with <paramref name="specialTokens"/>. If the tokenizer itself turns special-token text into
    /// a special id, <see cref="Encode"/> re-encodes those characters one by one, so messages still cannot forge them.
    /// <paramref name="vocabSize"/> is needed when the tokenizer does not expose its vocabulary (tiktoken).
    /// </summary>
    public static HfTokenizer FromTokenizer(
        Tokenizer tokenizer, IReadOnlyDictionary<string, int>? specialTokens = null, string? bosToken = null,
        string? eosToken = null, int? vocabSize = null, string source = "a Microsoft.ML.Tokenizers tokenizer")
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        var special = new Dictionary<string, int>(StringComparer.Ordinal);
        long? unknownId = null;
        IReadOnlyDictionary<string, int>? own = tokenizer switch
        {
            TiktokenTokenizer t => t.SpecialTokens,
            SentencePieceTokenizer s => s.SpecialTokens,
            BpeTokenizer b => b.SpecialTokens,
            _ => null,
        };
        foreach (var (token, id) in own ?? new Dictionary<string, int>())
            special[token] = id;
        if (tokenizer is SentencePieceTokenizer sp)
        {
            special[sp.BeginningOfSentenceToken] = sp.BeginningOfSentenceId;
            special[sp.EndOfSentenceToken] = sp.EndOfSentenceId;
            special[sp.UnknownToken] = sp.UnknownId;
            unknownId = sp.UnknownId;
            bosToken ??= sp.BeginningOfSentenceToken;
            eosToken ??= sp.EndOfSentenceToken;
        }
        foreach (var (token, id) in specialTokens ?? new Dictionary<string, int>())
            special[token] = id;

        int size = vocabSize ?? tokenizer switch
        {
            SentencePieceTokenizer s => s.Vocabulary.Count,
            BpeTokenizer b => b.Vocabulary.Count,
            _ => throw new ArgumentException($"{tokenizer.GetType().Name} does not expose its vocabulary: pass vocabSize.", nameof(vocabSize)),
        };
        if (special.Count > 0)
            size = Math.Max(size, special.Values.Max() + 1);
        var kind = tokenizer switch
        {
            TiktokenTokenizer => TokenizerKind.Tiktoken,
            SentencePieceTokenizer => TokenizerKind.SentencePiece,
            _ => TokenizerKind.Other,
        };
        return new HfTokenizer(tokenizer, kind, source, special, bosToken, eosToken, size, unknownId);
    }

    private static byte[] ReadFile(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path))
            throw new FileNotFoundException($"Tokenizer file not found: {path}", path);
        try
        {
            return File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"Could not read the tokenizer file {path}: {e.Message}", e);
        }
    }
}
