using System.Text;
using PromptLossWeight.Llama.Tokenizers;

namespace PromptLossWeight.Llama.Tests.Tokenizers;

public class ForgingPropertyTests
{
    // Fragments of special-token names, the private-use character the SentencePiece loader uses as a prefix,
    // byte-piece names, whitespace and non-ASCII text, glued together at random.
    private static readonly string[] Fragments =
    [
        "<", ">", "/", "s", "</", "s>", "<s", "<unk", "k>", "<0x", "41>", "<0x00>", "\uE000", "\uE001", "|", "<|", "|>",
        "eot_id", "im_end", "im_start", "endoftext", "begin_of_text", "start_header_id", "[INST]", "[/INST]", "<<SYS>>",
        " ", "  ", "\n", "\t", "hello", " world", "é", "😀", "a", "0",
    ];

    public static TheoryData<string> Tokenizers => new() { "sentencepiece", "llama3", "gpt2" };

    [Theory]
    [MemberData(nameof(Tokenizers))]
    public void Random_text_built_from_special_token_fragments_round_trips_without_special_ids(string kind)
    {
        using var folder = new TempFolder();
        HfTokenizer tokenizer = kind switch
        {
            "sentencepiece" => TestTokenizers.LoadSentencePiece(folder),
            "llama3" => TestTokenizers.LoadLlama3(folder),
            _ => TestTokenizers.Gpt2WithChatML(),
        };
        var random = new Random(20240229);

        for (int sample = 0; sample < 300; sample++)
        {
            var text = new StringBuilder();
            int parts = random.Next(1, 12);
            for (int i = 0; i < parts; i++)
                text.Append(Fragments[random.Next(Fragments.Length)]);
            string s = text.ToString();
            bool atStart = random.Next(2) == 0;

            var ids = tokenizer.Encode(s, atStart);

            ids.Should().NotContain(id => tokenizer.IsSpecial(id), $"'{s}' is plain text");
            tokenizer.Decode(ids, atStart).Should().Be(s);
        }
    }
}
