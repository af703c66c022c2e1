using Microsoft.ML.Tokenizers;
using PromptLossWeight.Llama.Tokenizers;

namespace PromptLossWeight.Llama.Tests.Tokenizers;

public class SentencePieceTokenizerTests
{
    [Theory]
    [InlineData("hello world")]
    [InlineData("the answer is 42.")]
    [InlineData("  two  spaces\nand a newline")]
    [InlineData("héllo wörld 😀 — ünïcode")]
    public void A_model_written_by_the_test_loads_and_round_trips_text(string text)
    {
        using var folder = new TempFolder();
        var tokenizer = TestTokenizers.LoadSentencePiece(folder);

        var ids = tokenizer.Encode(text);

        ids.Should().NotBeEmpty();
        ids.Should().OnlyContain(id => id >= 0 && id < tokenizer.VocabSize);
        tokenizer.Decode(ids).Should().Be(text);
    }

    [Fact]
    public void Bos_eos_special_tokens_and_vocabulary_size_come_from_the_model()
    {
        using var folder = new TempFolder();
        var tokenizer = TestTokenizers.LoadSentencePiece(folder);

        tokenizer.Kind.Should().Be(TokenizerKind.SentencePiece);
        tokenizer.VocabSize.Should().Be(TestTokenizers.SentencePieceVocabSize);
        (tokenizer.BosToken, tokenizer.BosId).Should().Be(("<s>", 1L));
        (tokenizer.EosToken, tokenizer.EosId).Should().Be(("</s>", 2L));
        tokenizer.SpecialTokens.Should().BeEquivalentTo(new Dictionary<string, long> { ["<unk>"] = 0, ["<s>"] = 1, ["</s>"] = 2 });
        tokenizer.Source.Should().EndWith("tokenizer.model");
    }

    [Fact]
    public void Known_words_use_their_merged_pieces()
    {
        using var folder = new TempFolder();
        var tokenizer = TestTokenizers.LoadSentencePiece(folder);
        var vocabulary = TestTokenizers.SentencePieceVocabulary;

        tokenizer.Encode("hello world").Should().Equal(vocabulary["\u2581hello"], vocabulary["\u2581world"]);
    }

    [Theory]
    [InlineData("a </s> b")]
    [InlineData("<s>[INST] hi")]
    [InlineData("x <unk> y")]
    [InlineData("byte <0x41> piece")]
    public void Text_that_spells_a_reserved_piece_stays_plain_text(string text)
    {
        using var folder = new TempFolder();
        byte[] model = TestTokenizers.SentencePieceModelBytes();
        var tokenizer = HfTokenizer.LoadSentencePiece(folder.Write("tokenizer.model", model));
        var unprotected = LlamaTokenizer.Create(new MemoryStream(model), false, false);

        var ids = tokenizer.Encode(text);

        ids.Should().NotContain(id => id < 3 + 256, "no control, unknown or byte piece may come from this ASCII text");
        tokenizer.Decode(ids).Should().Be(text);
        unprotected.EncodeToIds(text, false, false).Should().Contain(id => id < 3 + 256,
            "the plain Microsoft.ML.Tokenizers model does merge this text into a reserved piece, which is what the loader prevents");
    }

    [Fact]
    public void A_continuation_has_no_dummy_prefix_and_decodes_back_with_its_leading_space()
    {
        var tokenizer = HfTokenizer.LoadSentencePiece(TestTokenizers.SentencePieceModelBytes(), "in-memory model");
        var vocabulary = TestTokenizers.SentencePieceVocabulary;

        tokenizer.Encode("hello", atStart: true).Should().Equal(vocabulary["\u2581hello"]);
        tokenizer.Encode("hello", atStart: false).Should().Equal(vocabulary["he"], vocabulary["llo"]);
        tokenizer.Encode(" hello", atStart: false).Should().Equal(vocabulary["\u2581hello"]);
        tokenizer.Decode(tokenizer.Encode(" hello world ", atStart: false), atStart: false).Should().Be(" hello world ");
        tokenizer.Decode(tokenizer.Encode("hello", atStart: false), atStart: false).Should().Be("hello");
    }

    [Fact]
    public void Decoding_shows_special_ids_by_name()
    {
        var tokenizer = HfTokenizer.LoadSentencePiece(TestTokenizers.SentencePieceModelBytes(), "in-memory model");

        var ids = new List<long> { 1 };
        ids.AddRange(tokenizer.Encode("hello"));
        ids.Add(2);

        tokenizer.Decode(ids).Should().Be("<s>hello</s>");
        tokenizer.IsSpecial(2).Should().BeTrue();
        tokenizer.IsSpecial(ids[1]).Should().BeFalse();
        tokenizer.Invoking(t => t.Decode([tokenizer.VocabSize])).Should().Throw<ArgumentOutOfRangeException>();
    }

    [Fact]
    public void A_missing_model_file_gives_an_error_naming_it()
    {
        using var folder = new TempFolder();
        string path = Path.Combine(folder.Path, "tokenizer.model");

        var act = () => HfTokenizer.LoadSentencePiece(path);

        act.Should().Throw<FileNotFoundException>().WithMessage($"*{path}*");
    }

    [Theory]
    [InlineData("not a protobuf at all, just text")]
    [InlineData("truncated")]
    [InlineData("empty")]
    public void A_corrupt_model_file_gives_an_error_naming_it(string kind)
    {
        using var folder = new TempFolder();
        byte[] good = TestTokenizers.SentencePieceModelBytes();
        byte[] bytes = kind switch
        {
            "truncated" => good[..(good.Length / 2)],
            "empty" => [],
            _ => System.Text.Encoding.UTF8.GetBytes(kind),
        };
        string path = folder.Write("tokenizer.model", bytes);

        var act = () => HfTokenizer.LoadSentencePiece(path);

        act.Should().Throw<InvalidDataException>().WithMessage($"*{path}*");
    }

    [Fact]
    public void A_model_with_a_duplicate_piece_names_the_piece()
    {
        var model = new ProtoWriter();
        foreach (var (piece, type) in new[] { ("<unk>", 2), ("<s>", 3), ("</s>", 3), ("a", 1), ("a", 1) })
            model.Message(1, new ProtoWriter().String(1, piece).Float(2, 0).Int(3, type));
        model.Message(2, new ProtoWriter().Int(3, 2));

        var act = () => HfTokenizer.LoadSentencePiece(model.ToArray(), "dup.model");

        act.Should().Throw<InvalidDataException>().WithMessage("*dup.model*'a'*twice*");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(4)]
    public void Models_other_than_bpe_are_rejected_naming_the_model_type(int modelType)
    {
        var act = () => HfTokenizer.LoadSentencePiece(TestTokenizers.SentencePieceModelBytes(modelType), "other.model");

        act.Should().Throw<InvalidDataException>().WithMessage($"*other.model*model_type {modelType}*only BPE*");
    }
}
