namespace PromptLossWeight.Llama.Tokenizers;

/// <summary>
/// The text half of a tokenizer as <see cref="HfTokenizer"/> uses it: plain text to ids (never special ids) and
/// regular ids back to text. <c>atStart</c> tells whether the text starts an encode call (a SentencePiece-style
/// tokenizer then adds its dummy-prefix space) or continues directly after other tokens.
/// </summary>
internal interface ITextEncoder
{
    /// <summary>Encodes plain text.</summary>
    IReadOnlyList<int> Encode(string text, bool atStart);

    /// <summary>Decodes regular (non-special) ids; <paramref name="atStart"/> mirrors <see cref="Encode"/>.</summary>
    string Decode(IReadOnlyList<int> ids, bool atStart);
}
