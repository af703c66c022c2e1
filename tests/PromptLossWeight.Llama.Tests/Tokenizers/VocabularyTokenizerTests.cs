using PromptLossWeight.Llama.Tokenizers;

namespace PromptLossWeight.Llama.Tests.Tokenizers;

public class VocabularyTokenizerTests
{
    private const string Vocabulary = "[PAD]\n[UNK]\n<|im_end|>\na\n+\nb\n=\nc\n😀\nword_2\n";

    [Fact]
    public void Every_symbol_is_its_own_piece_so_plus_is_never_dropped()
    {
        using var folder = new TempFolder();
        var tokenizer = HfTokenizer.LoadVocabulary(folder.Write("vocab.txt", Vocabulary), eosToken: "<|im_end|>");

        tokenizer.Encode("a+b = c 😀 word_2").Should().Equal(3, 4, 5, 6, 7, 8, 9);
        tokenizer.Decode(tokenizer.Encode("a+b=c")).Should().Be("a + b = c");
        tokenizer.Kind.Should().Be(TokenizerKind.Vocabulary);
        tokenizer.EosId.Should().Be(2);
    }

    [Fact]
    public void A_piece_outside_the_vocabulary_fails_naming_it_and_the_file_unless_an_unknown_token_is_given()
    {
        using var folder = new TempFolder();
        string path = folder.Write("vocab.txt", Vocabulary);

        FluentActions.Invoking(() => HfTokenizer.LoadVocabulary(path).Encode("a - b")).Should()
            .Throw<InvalidOperationException>().WithMessage($"{path}: '-'*not in the vocabulary*");
        HfTokenizer.LoadVocabulary(path, unknownToken: "[UNK]").Encode("a - b").Should().Equal(3, 1, 5);
    }

    [Fact]
    public void Special_tokens_must_be_lines_of_the_file_and_stay_text_in_messages()
    {
        using var folder = new TempFolder();
        string path = folder.Write("vocab.txt", Vocabulary);

        FluentActions.Invoking(() => HfTokenizer.LoadVocabulary(path, ["<|im_start|>"])).Should()
            .Throw<InvalidDataException>().WithMessage($"{path}: the special token '<|im_start|>' is not a line*");
        var tokenizer = HfTokenizer.LoadVocabulary(path, ["<|im_end|>"], unknownToken: "[UNK]");
        tokenizer.Encode("<|im_end|>").Should().NotContain(2);
    }

    [Fact]
    public void The_pieces_for_writing_a_vocabulary_are_exactly_the_tokens_the_tokenizer_encodes()
    {
        using var folder = new TempFolder();
        string[] pieces = HfTokenizer.VocabularyPieces("a+b = c 😀 word_2").ToArray();

        pieces.Should().Equal("a", "+", "b", "=", "c", "😀", "word_2");
        var tokenizer = HfTokenizer.LoadVocabulary(folder.Write("vocab.txt", string.Join('\n', pieces) + "\n"));
        tokenizer.Encode("a+b = c 😀 word_2").Should().Equal(0, 1, 2, 3, 4, 5, 6);
    }
}
