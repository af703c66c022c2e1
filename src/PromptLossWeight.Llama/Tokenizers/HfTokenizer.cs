using Microsoft.ML.Tokenizers;

namespace PromptLossWeight.Llama.Tokenizers;

/// <summary>Which kind of tokenizer file a <see cref="HfTokenizer"/> was made from.</summary>
public enum TokenizerKind
{
    /// <summary>A SentencePiece BPE <c>tokenizer.model</c> (Llama 2), encoded exactly as SentencePiece does.</summary>
    SentencePiece,
    /// <summary>A tiktoken BPE file (Llama 3's <c>tokenizer.model</c>) or a byte-level BPE converted to it.</summary>
    Tiktoken,
    /// <summary>Any other Microsoft.ML.Tokenizers tokenizer.</summary>
    Other,
    /// <summary>A Hugging Face <c>tokenizer.json</c> BPE (byte-level, or SentencePiece-style with byte fallback).</summary>
    TokenizerJson,
    /// <summary>A plain vocabulary file, one token per line (see <see cref="HfTokenizer.LoadVocabulary"/>).</summary>
    Vocabulary,
}

/// <summary>
/// The tokenizer of a model (the Llama package's general tokenizer, whatever file it came from: see
/// <see cref="TokenizerKind"/> and <see cref="TokenizerLoader"/>): its text encoder with the special tokens, BOS and EOS
/// by name. Text is encoded without special tokens (and text such as "&lt;|eot_id|&gt;" or "&lt;/s&gt;" inside a
/// message can never come out as a special id), special tokens are looked up by name and inserted as ids by the chat
/// templates, and decoding shows special ids by their names.
/// </summary>
public sealed partial class HfTokenizer
{
    private readonly Tokenizer? _tokenizer;
    private readonly ITextEncoder? _encoder;
    private readonly SentencePieceNormalizer? _continuationNormalizer;
    private readonly Dictionary<string, long> _special;
    private readonly Dictionary<long, string> _specialById;
    private readonly HashSet<long> _forbidden;
    private readonly string[] _specialByLength;

    private HfTokenizer(
        Tokenizer tokenizer, TokenizerKind kind, string source, IReadOnlyDictionary<string, int> specialTokens,
        string? bosToken, string? eosToken, int vocabSize, long? unknownId)
        : this(kind, source, specialTokens, bosToken, eosToken, vocabSize, unknownId)
    {
        _tokenizer = tokenizer;
        if (tokenizer is SentencePieceTokenizer sp)
        {
            bool removeExtra = sp.Normalizer is SentencePieceNormalizer n && n.RemoveExtraWhiteSpaces;
            _continuationNormalizer = new SentencePieceNormalizer(removeExtra, addDummyPrefix: false, sp.EscapeWhiteSpaces, sp.TreatWhitespaceAsSuffix, specialTokens: null);
        }
    }

    private HfTokenizer(
        ITextEncoder encoder, TokenizerKind kind, string source, IReadOnlyDictionary<string, int> specialTokens,
        string? bosToken, string? eosToken, int vocabSize, long? unknownId)
        : this(kind, source, specialTokens, bosToken, eosToken, vocabSize, unknownId)
    {
        _encoder = encoder;
    }

    private HfTokenizer(
        TokenizerKind kind, string source, IReadOnlyDictionary<string, int> specialTokens,
        string? bosToken, string? eosToken, int vocabSize, long? unknownId)
    {
        Kind = kind;
        Source = source;
        _special = specialTokens.ToDictionary(kv => kv.Key, kv => (long)kv.Value, StringComparer.Ordinal);
        _specialById = new Dictionary<long, string>();
        foreach (var (token, id) in _special)
        {
            if (id < 0 || id >= vocabSize)
                throw new ArgumentException($"{source}: special token '{token}' has id {id}, outside the vocabulary of {vocabSize}.");
            if (!_specialById.TryAdd(id, token))
                throw new ArgumentException($"{source}: special tokens '{_specialById[id]}' and '{token}' share id {id}.");
        }
        _forbidden = _specialById.Keys.Where(id => id != unknownId).ToHashSet();
        _specialByLength = _special.Keys.OrderByDescending(k => k.Length).ToArray();
        VocabSize = vocabSize;
        BosToken = bosToken;
        EosToken = eosToken;
        BosId = bosToken is null ? null : SpecialTokenId(bosToken);
        EosId = eosToken is null ? null : SpecialTokenId(eosToken);
    }

    /// <summary>
    /// The underlying Microsoft.ML.Tokenizers tokenizer for tokenizers made by <see cref="FromTokenizer"/> and
    /// <see cref="LoadTiktoken(string, IReadOnlyDictionary{string, int}, string?, string?, string)"/>; null for the
    /// library's own encoders (SentencePiece <c>tokenizer.model</c>, <c>tokenizer.json</c>, vocabulary files).
    /// Use <see cref="Encode"/> and <see cref="Decode"/>.
    /// </summary>
    public Tokenizer? Tokenizer => _tokenizer;

    /// <summary>What kind of tokenizer this is.</summary>
    public TokenizerKind Kind { get; }

    /// <summary>The file (or description) it was loaded from.</summary>
    public string Source { get; }

    /// <summary>The number of ids (regular and special): every id is in [0, VocabSize).</summary>
    public int VocabSize { get; }

    /// <summary>The beginning-of-sequence token, or null when the tokenizer has none.</summary>
    public string? BosToken { get; }

    /// <summary>The end-of-sequence token, or null when the tokenizer has none.</summary>
    public string? EosToken { get; }

    /// <summary>The id of <see cref="BosToken"/>.</summary>
    public long? BosId { get; }

    /// <summary>The id of <see cref="EosToken"/>.</summary>
    public long? EosId { get; }

    /// <summary>The special (control) tokens and their ids; text never encodes to these ids.</summary>
    public IReadOnlyDictionary<string, long> SpecialTokens => _special;

    /// <summary>
    /// A <see cref="PromptLossWeight.Masking.MaskBuilder"/> that encodes with <see cref="Encode"/> (so text never forges
    /// special ids). For chat-template segments leave <c>BosId</c>/<c>EosId</c> unset: the templates insert them.
    /// </summary>
    public PromptLossWeight.Masking.MaskBuilder CreateMaskBuilder(PromptLossWeight.Masking.MaskBuilderOptions? options = null) =>
        new(text => Encode(text), options);

    /// <summary>True when <paramref name="id"/> is a special token.</summary>
    public bool IsSpecial(long id) => _specialById.ContainsKey(id);

    /// <summary>The id of a special token; throws <see cref="KeyNotFoundException"/> naming it when the tokenizer lacks it.</summary>
    public long SpecialTokenId(string token) =>
        _special.TryGetValue(token, out long id)
            ? id
            : throw new KeyNotFoundException($"The tokenizer from {Source} has no special token '{token}'.");

    /// <summary>Looks up a special token's id.</summary>
    public bool TryGetSpecialTokenId(string token, out long id) => _special.TryGetValue(token, out id);

    /// <summary>
    /// Encodes text as plain text: no BOS/EOS, and special-token names inside the text stay text.
    /// <paramref name="atStart"/> matters for SentencePiece only: true encodes the text as the start of an encode
    /// call (with the model's dummy-prefix space, as Llama 2 does after &lt;s&gt;), false as a continuation
    /// directly after other tokens (no added space).
    /// </summary>
    public IReadOnlyList<long> Encode(string text, bool atStart = true)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length == 0)
            return [];
        var ids = EncodeRaw(text, atStart);
        if (!ids.Any(_forbidden.Contains))
            return ids;

        // The underlying tokenizer turned special-token text into a special id (a tokenizer passed to
        // FromTokenizer may do so): encode those occurrences character by character instead.
        var safe = new List<long>();
        int position = 0;
        while (position < text.Length)
        {
            var (index, token) = NextSpecialText(text, position);
            int end = index < 0 ? text.Length : index;
            if (end > position)
                safe.AddRange(EncodeRaw(text[position..end], atStart && position == 0));
            if (index < 0)
                break;
            for (int i = 0; i < token!.Length; i++)
                safe.AddRange(EncodeRaw(token[i].ToString(), atStart && index + i == 0));
            position = index + token.Length;
        }
        long forged = safe.FirstOrDefault(_forbidden.Contains, -1);
        if (forged >= 0)
            throw new InvalidOperationException($"The tokenizer from {Source} encodes plain text to the special token '{_specialById[forged]}'.");
        return safe;
    }

    /// <summary>
    /// Decodes ids to text, showing special ids by their names. The text between special ids is decoded run by
    /// run, so a SentencePiece run drops its dummy-prefix space (as after &lt;s&gt; in Llama 2).
    /// <paramref name="atStart"/> mirrors <see cref="Encode"/>: false keeps the leading space of the first run.
    /// </summary>
    public string Decode(IEnumerable<long> ids, bool atStart = true)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var text = new System.Text.StringBuilder();
        var run = new List<int>();
        bool first = true;
        foreach (long id in ids)
        {
            if (id < 0 || id >= VocabSize)
                throw new ArgumentOutOfRangeException(nameof(ids), id, $"Token id {id} is outside the vocabulary of {VocabSize}.");
            if (_specialById.TryGetValue(id, out string? name))
            {
                Flush();
                text.Append(name);
                first = false;
            }
            else
            {
                run.Add((int)id);
            }
        }
        Flush();
        return text.ToString();

        void Flush()
        {
            if (run.Count == 0)
                return;
            text.Append(_encoder is not null ? _encoder.Decode(run, atStart: !(first && !atStart)) : _tokenizer!.Decode(run));
            run.Clear();
            first = false;
        }
    }

    private (int Index, string? Token) NextSpecialText(string text, int from)
    {
        int best = -1;
        string? bestToken = null;
        foreach (string token in _specialByLength)
        {
            int index = text.IndexOf(token, from, StringComparison.Ordinal);
            if (index >= 0 && (best < 0 || index < best))
            {
                best = index;
                bestToken = token;
            }
        }
        return (best, bestToken);
    }

    private List<long> EncodeRaw(string text, bool atStart)
    {
        IReadOnlyList<int> ids;
        if (_encoder is not null)
        {
            ids = _encoder.Encode(text, atStart);
        }
        else if (_tokenizer is SentencePieceTokenizer sp)
        {
            ids = atStart || _continuationNormalizer is null
                ? sp.EncodeToIds(text, addBeginningOfSentence: false, addEndOfSentence: false)
                : sp.EncodeToIds(_continuationNormalizer.Normalize(text), addBeginningOfSentence: false, addEndOfSentence: false, considerPreTokenization: false, considerNormalization: false);
        }
        else
        {
            ids = _tokenizer!.EncodeToIds(text);
        }
        return ids.Select(id => (long)id).ToList();
    }
}
