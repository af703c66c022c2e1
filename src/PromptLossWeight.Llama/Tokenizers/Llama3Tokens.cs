namespace PromptLossWeight.Llama.Tokenizers;

/// <summary>
/// The special tokens and pre-tokenization pattern of the Llama-3 tokenizer (tiktoken format): 256 special
/// tokens numbered right after the BPE ranks (128000 for the released models).
/// </summary>
internal static class Llama3Tokens
{
    /// <summary>Start of a sequence (the BOS).</summary>
    public const string BeginOfText = "<|begin_of_text|>";

    /// <summary>End of a document (the EOS of the base model).</summary>
    public const string EndOfText = "<|end_of_text|>";

    /// <summary>Opens the role name of a message header.</summary>
    public const string StartHeader = "<|start_header_id|>";

    /// <summary>Closes the role name of a message header.</summary>
    public const string EndHeader = "<|end_header_id|>";

    /// <summary>End of a message (where an instruct model stops generating).</summary>
    public const string EndOfTurn = "<|eot_id|>";

    /// <summary>The number of special tokens that follow the BPE ranks.</summary>
    public const int SpecialTokenCount = 256;

    /// <summary>The regular expression that splits text into pieces before BPE (from Meta's Llama-3 tokenizer).</summary>
    public const string Pattern =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>
    /// The 256 special tokens with their ids, the first at <paramref name="firstId"/> (the number of BPE ranks):
    /// begin/end of text, headers and end of turn at their Llama-3 positions, the rest
    /// <c>&lt;|reserved_special_token_N|&gt;</c>. (Llama-3.1 renames some reserved slots; a folder's
    /// tokenizer_config.json overrides the names, see <see cref="TokenizerLoader"/>.)
    /// </summary>
    public static Dictionary<string, int> SpecialTokens(int firstId)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(firstId);
        string[] named =
        [
            BeginOfText, EndOfText, "<|reserved_special_token_0|>", "<|reserved_special_token_1|>",
            "<|reserved_special_token_2|>", "<|reserved_special_token_3|>", StartHeader, EndHeader,
            "<|reserved_special_token_4|>", EndOfTurn,
        ];
        var tokens = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < named.Length; i++)
            tokens.Add(named[i], firstId + i);
        for (int i = named.Length; i < SpecialTokenCount; i++)
            tokens.Add($"<|reserved_special_token_{i - 5}|>", firstId + i);
        return tokens;
    }
}
