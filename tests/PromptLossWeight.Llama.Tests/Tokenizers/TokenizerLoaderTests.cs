using PromptLossWeight.Llama.Tokenizers;

namespace PromptLossWeight.Llama.Tests.Tokenizers;

public class TokenizerLoaderTests
{
    private const string Llama3Config = """
        {
          "bos_token": "<|begin_of_text|>",
          "eos_token": { "content": "<|eot_id|>" },
          "added_tokens_decoder": { "ID": { "content": "<|eom_id|>", "special": true } }
        }
        """;

    [Fact]
    public void A_sentencepiece_tokenizer_model_is_loaded_as_sentencepiece()
    {
        using var folder = new TempFolder();
        folder.Write("tokenizer.model", TestTokenizers.SentencePieceModelBytes());
        folder.Write("tokenizer_config.json", """{ "bos_token": "<s>", "eos_token": "</s>" }""");

        var result = TokenizerLoader.Load(folder.Path);

        result.Tokenizer.Kind.Should().Be(TokenizerKind.SentencePiece);
        result.File.Should().Be(Path.Combine(folder.Path, "tokenizer.model"));
        result.Tokenizer.Decode(result.Tokenizer.Encode("hello world")).Should().Be("hello world");
        result.Notes.Should().BeEmpty();
    }

    [Fact]
    public void A_tiktoken_tokenizer_model_gets_llama3_special_tokens_renamed_by_the_config()
    {
        using var folder = new TempFolder();
        folder.Write("tokenizer.model", TestTokenizers.TiktokenFileBytes());
        int eom = TestTokenizers.TiktokenRankCount + 8;
        folder.Write("tokenizer_config.json", Llama3Config.Replace("ID", eom.ToString()));

        var result = TokenizerLoader.Load(folder.Path);

        result.Tokenizer.Kind.Should().Be(TokenizerKind.Tiktoken);
        result.Tokenizer.EosToken.Should().Be("<|eot_id|>");
        result.Tokenizer.SpecialTokenId("<|eom_id|>").Should().Be(eom);
        result.Tokenizer.TryGetSpecialTokenId("<|reserved_special_token_4|>", out _).Should().BeFalse();
        result.Notes.Should().ContainSingle().Which.Should().Contain("tiktoken format");
    }

    [Theory]
    [InlineData("hello world")]
    [InlineData("user\n\nsays héllo 😀")]
    [InlineData("<|eot_id|> stays text")]
    public void A_byte_level_tokenizer_json_encodes_like_the_same_ranks_in_tiktoken_format(string text)
    {
        using var jsonFolder = new TempFolder();
        jsonFolder.Write("tokenizer.json", TokenizerJsonWriter.Write());
        jsonFolder.Write("tokenizer_config.json", Llama3Config.Replace("ID", "999999"));
        using var modelFolder = new TempFolder();
        var reference = TestTokenizers.LoadLlama3(modelFolder);

        var result = TokenizerLoader.Load(jsonFolder.Path);

        result.File.Should().EndWith("tokenizer.json");
        result.Tokenizer.Encode(text).Should().Equal(reference.Encode(text));
        result.Tokenizer.Decode(result.Tokenizer.Encode(text)).Should().Be(text);
        result.Tokenizer.SpecialTokenId("<|eot_id|>").Should().Be(reference.SpecialTokenId("<|eot_id|>"));
        result.Tokenizer.BosId.Should().Be(reference.BosId);
    }

    [Fact]
    public void A_tokenizer_json_whose_ids_do_not_follow_merge_order_merges_by_rank_in_the_merges_list()
    {
        using var folder = new TempFolder();
        folder.Write("tokenizer.json", TokenizerJsonWriter.Write(reverseMergeIds: true));
        var vocabulary = TokenizerJsonWriter.Vocabulary(reverseMergeIds: true);

        var tokenizer = TokenizerLoader.Load(folder.Path).Tokenizer;

        tokenizer.Encode("hello world").Should().Equal(vocabulary["hello"], vocabulary[TokenizerJsonWriter.ByteLevel(" world")]);
        tokenizer.Decode(tokenizer.Encode("hello world")).Should().Be("hello world");
    }

    [Fact]
    public void A_sentencepiece_style_tokenizer_json_prepends_the_space_mark_and_falls_back_to_bytes()
    {
        using var folder = new TempFolder();
        folder.Write("tokenizer.json", TokenizerJsonWriter.WriteSentencePieceStyle());
        var vocabulary = TokenizerJsonWriter.SentencePieceStyleVocabulary;

        var tokenizer = TokenizerLoader.Load(folder.Path).Tokenizer;

        tokenizer.Kind.Should().Be(TokenizerKind.TokenizerJson);
        tokenizer.Encode("ab a").Should().Equal(vocabulary["\u2581ab"], vocabulary["\u2581a"]);
        tokenizer.Encode("é").Should().Equal(vocabulary["\u2581"], vocabulary["<0xC3>"], vocabulary["<0xA9>"]);
        tokenizer.Encode("ab", atStart: false).Should().Equal(vocabulary["ab"]);
        tokenizer.Decode(tokenizer.Encode(" ab é a")).Should().Be(" ab é a");
        tokenizer.Decode(tokenizer.Encode("b a", atStart: false), atStart: false).Should().Be("b a");
    }

    [Fact]
    public void Tokenizer_json_comes_first_then_tokenizer_model_then_original_tokenizer_model()
    {
        using var folder = new TempFolder();
        Directory.CreateDirectory(Path.Combine(folder.Path, "original"));
        folder.Write(Path.Combine("original", "tokenizer.model"), TestTokenizers.TiktokenFileBytes());
        TokenizerLoader.Load(folder.Path).File.Should().Be(Path.Combine(folder.Path, "original", "tokenizer.model"));

        folder.Write("tokenizer.model", TestTokenizers.SentencePieceModelBytes());
        TokenizerLoader.Load(folder.Path).File.Should().Be(Path.Combine(folder.Path, "tokenizer.model"));

        folder.Write("tokenizer.json", TokenizerJsonWriter.Write());
        TokenizerLoader.Load(folder.Path).File.Should().Be(Path.Combine(folder.Path, "tokenizer.json"));
    }

    [Fact]
    public void A_corrupt_tokenizer_json_is_skipped_for_a_usable_tokenizer_model_with_a_note()
    {
        using var folder = new TempFolder();
        folder.Write("tokenizer.json", "{ not json");
        folder.Write("tokenizer.model", TestTokenizers.SentencePieceModelBytes());

        var result = TokenizerLoader.Load(folder.Path);

        result.File.Should().EndWith("tokenizer.model");
        result.Notes.Should().Contain(n => n.Contains("skipped") && n.Contains("tokenizer.json"));
    }

    [Fact]
    public void Every_failure_is_listed_when_nothing_loads()
    {
        using var folder = new TempFolder();
        folder.Write("tokenizer.model", "this is not a tokenizer");
        folder.Write("tokenizer.json", "{ not json");

        var act = () => TokenizerLoader.Load(folder.Path);

        act.Should().Throw<InvalidDataException>()
            .WithMessage("*tokenizer.json: not valid JSON*tokenizer.model: not a valid SentencePiece model*");
    }

    [Fact]
    public void A_truncated_sentencepiece_model_gets_the_sentencepiece_parsers_error_naming_the_file()
    {
        using var folder = new TempFolder();
        byte[] good = TestTokenizers.SentencePieceModelBytes();
        string path = folder.Write("tokenizer.model", good[..(good.Length * 2 / 3)]);

        var act = () => TokenizerLoader.LoadFile(path);

        act.Should().Throw<InvalidDataException>().WithMessage($"{path}: not a valid SentencePiece model*")
            .Which.Message.Should().NotContain("tiktoken");
    }

    [Fact]
    public void A_folder_without_tokenizer_files_names_what_it_looked_for()
    {
        using var folder = new TempFolder();

        var act = () => TokenizerLoader.Load(folder.Path);

        act.Should().Throw<FileNotFoundException>().WithMessage($"*{folder.Path}*tokenizer.json, tokenizer.model, original*tokenizer.model*");
    }

    [Fact]
    public void A_missing_folder_and_a_corrupt_config_are_named()
    {
        using var folder = new TempFolder();
        string missing = Path.Combine(folder.Path, "nope");
        FluentActions.Invoking(() => TokenizerLoader.Load(missing)).Should().Throw<DirectoryNotFoundException>().WithMessage($"*{missing}*");

        folder.Write("tokenizer.model", TestTokenizers.SentencePieceModelBytes());
        folder.Write("tokenizer_config.json", """{ "bos_token": 5 }""");
        FluentActions.Invoking(() => TokenizerLoader.Load(folder.Path)).Should().Throw<InvalidDataException>()
            .WithMessage("*tokenizer_config.json*bos_token*");
    }

    [Fact]
    public void The_byte_level_prefix_space_is_applied_and_a_missing_bos_is_noted()
    {
        using var withPrefix = new TempFolder();
        withPrefix.Write("tokenizer.json", TokenizerJsonWriter.Write(addPrefixSpace: true));
        using var without = new TempFolder();
        without.Write("tokenizer.json", TokenizerJsonWriter.Write());

        var result = TokenizerLoader.Load(withPrefix.Path);

        result.Tokenizer.Encode("hello world").Should().Equal(TokenizerLoader.Load(without.Path).Tokenizer.Encode(" hello world"));
        result.Notes.Should().Contain(n => n.Contains("bos_token"));
        result.Tokenizer.BosId.Should().BeNull();
    }
}
