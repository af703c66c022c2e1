using PromptLossWeight.Llama.Chat;
using PromptLossWeight.Llama.Tokenizers;

namespace PromptLossWeight.Samples.Race.Synthetic;

/// <summary>
/// The word-level tokenizer of the embedded default: the shipped vocabulary file (one token per line, the line
/// number is the id) loaded by the library's vocabulary tokenizer, with the ChatML special tokens, so the default
/// renders its examples with a real chat template.
/// </summary>
public static class WordLevelTokenizer
{
    /// <summary>Padding token (id 0).</summary>
    public const string Pad = "[PAD]";

    /// <summary>Unknown-word token.</summary>
    public const string Unknown = "[UNK]";

    /// <summary>The vocabulary file shipped next to the sample.</summary>
    public static string DefaultVocabularyPath => Path.Combine(AppContext.BaseDirectory, "assets", "vocab.txt");

    /// <summary>
    /// Loads the vocabulary at <paramref name="path"/> (default: the shipped one) with
    /// <see cref="HfTokenizer.LoadVocabulary"/>: [UNK] for unseen words, the ChatML markers and [PAD] special,
    /// EOS = &lt;|im_end|&gt;.
    /// </summary>
    public static HfTokenizer Load(string? path = null) =>
        HfTokenizer.LoadVocabulary(path ?? DefaultVocabularyPath, [Pad, ChatMLTemplate.ImStart, ChatMLTemplate.ImEnd],
            unknownToken: Unknown, eosToken: ChatMLTemplate.ImEnd);

    /// <summary>
    /// Writes a vocabulary for <paramref name="texts"/> to <paramref name="path"/>: the special tokens and the ChatML
    /// words, then every word of <paramref name="required"/> (in its order), then the most frequent words and
    /// punctuation marks of the texts (ties in ordinal order) up to <paramref name="maxWords"/> entries; rarer words
    /// become [UNK]. Used when --data is given without --model, with the shipped vocabulary as
    /// <paramref name="required"/> so that the answer letters and the pretraining corpus's words always have ids.
    /// </summary>
    public static void BuildVocabulary(IEnumerable<string> texts, string path, IEnumerable<string>? required = null, int maxWords = 8000)
    {
        ArgumentNullException.ThrowIfNull(texts);
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (string text in texts)
            foreach (string word in HfTokenizer.VocabularyPieces(text))
                counts[word] = counts.GetValueOrDefault(word) + 1;
        var vocabulary = new List<string> { Pad, Unknown, ChatMLTemplate.ImStart, ChatMLTemplate.ImEnd, "system", "user", "assistant" };
        var seen = vocabulary.ToHashSet(StringComparer.Ordinal);
        foreach (string word in required ?? [])
            if (word.Length > 0 && seen.Add(word)) vocabulary.Add(word);
        foreach (string word in counts.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => kv.Key))
        {
            if (vocabulary.Count >= maxWords) break;
            if (seen.Add(word)) vocabulary.Add(word);
        }
        File.WriteAllLines(path, vocabulary);
    }

    /// <summary>The words of the shipped vocabulary (<see cref="DefaultVocabularyPath"/>), in id order.</summary>
    public static IReadOnlyList<string> DefaultWords() => File.ReadAllLines(DefaultVocabularyPath).Where(l => l.Length > 0).ToArray();

    /// <summary>The ChatML template over the word-level tokenizer.</summary>
    public static ChatTemplate Template(HfTokenizer tokenizer) => new ChatMLTemplate(tokenizer);
}
