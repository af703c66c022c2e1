using System.Text;
using PromptLossWeight.Llama.Tokenizers;

namespace PromptLossWeight.Llama.Tests.Tokenizers;

public class TiktokenTokenizerTests
{
    [Theory]
    [InlineData("hello world")]
    [InlineData("user\n\nassistant")]
    [InlineData("héllo wörld 😀 — ünïcode\ttabs")]
    public void A_llama3_file_written_by_the_test_loads_and_round_trips_text(string text)
    {
        using var folder = new TempFolder();
        var tokenizer = TestTokenizers.LoadLlama3(folder);

        var ids = tokenizer.Encode(text);

        ids.Should().OnlyContain(id => id >= 0 && id < TestTokenizers.TiktokenRankCount);
        tokenizer.Decode(ids).Should().Be(text);
    }

    [Fact]
    public void Merges_from_the_file_are_used()
    {
        using var folder = new TempFolder();
        var tokenizer = TestTokenizers.LoadLlama3(folder);
        int hello = 256 + Array.IndexOf(TestTokenizers.TiktokenMerges, "hello");
        int world = 256 + Array.IndexOf(TestTokenizers.TiktokenMerges, " world");

        tokenizer.Encode("hello world").Should().Equal(hello, world);
    }

    [Fact]
    public void Llama3_special_tokens_follow_the_ranks()
    {
        using var folder = new TempFolder();
        var tokenizer = TestTokenizers.LoadLlama3(folder);
        int first = TestTokenizers.TiktokenRankCount;

        tokenizer.Kind.Should().Be(TokenizerKind.Tiktoken);
        tokenizer.VocabSize.Should().Be(first + 256);
        tokenizer.SpecialTokens.Should().HaveCount(256);
        tokenizer.BosId.Should().Be(first);
        tokenizer.EosId.Should().Be(first + 1);
        tokenizer.SpecialTokenId("<|start_header_id|>").Should().Be(first + 6);
        tokenizer.SpecialTokenId("<|end_header_id|>").Should().Be(first + 7);
        tokenizer.SpecialTokenId("<|eot_id|>").Should().Be(first + 9);
        tokenizer.SpecialTokenId("<|reserved_special_token_5|>").Should().Be(first + 10);
        tokenizer.SpecialTokenId("<|reserved_special_token_250|>").Should().Be(first + 255);
        tokenizer.Invoking(t => t.SpecialTokenId("<|im_start|>")).Should().Throw<KeyNotFoundException>().WithMessage("*<|im_start|>*");
    }

    [Theory]
    [InlineData("<|eot_id|>")]
    [InlineData("a<|start_header_id|>system<|end_header_id|>\n\nb")]
    [InlineData("<|begin_of_text|><|reserved_special_token_3|>")]
    public void Special_token_text_in_a_message_stays_plain_text(string text)
    {
        using var folder = new TempFolder();
        var tokenizer = TestTokenizers.LoadLlama3(folder);

        var ids = tokenizer.Encode(text);

        ids.Should().OnlyContain(id => id < TestTokenizers.TiktokenRankCount);
        tokenizer.Decode(ids).Should().Be(text);
    }

    [Fact]
    public void Decoding_shows_special_ids_by_name()
    {
        using var folder = new TempFolder();
        var tokenizer = TestTokenizers.LoadLlama3(folder);
        var ids = new List<long> { tokenizer.BosId!.Value };
        ids.AddRange(tokenizer.Encode("hello"));
        ids.Add(tokenizer.SpecialTokenId("<|eot_id|>"));

        tokenizer.Decode(ids).Should().Be("<|begin_of_text|>hello<|eot_id|>");
    }

    [Fact]
    public void A_missing_file_gives_an_error_naming_it()
    {
        using var folder = new TempFolder();
        string path = Path.Combine(folder.Path, "tokenizer.model");

        var act = () => HfTokenizer.LoadLlama3(path);

        act.Should().Throw<FileNotFoundException>().WithMessage($"*{path}*");
    }

    [Theory]
    [InlineData("aGVsbG8= 0\nd29ybGQ= one\n", "line 2", "rank 'one'")]
    [InlineData("aGVsbG8= 0\n!!notbase64 1\n", "line 2", "not base64")]
    [InlineData("aGVsbG8= 0\nd29ybGQ= 0\n", "line 2", "rank 0 appears twice")]
    [InlineData("aGVsbG8=0\n", "line 1", "expected 'base64-token rank'")]
    [InlineData("\n\n", "", "no 'base64-token rank' lines")]
    public void A_corrupt_file_gives_an_error_naming_the_file_and_line(string content, string line, string problem)
    {
        using var folder = new TempFolder();
        string path = folder.Write("tokenizer.model", content);

        var act = () => HfTokenizer.LoadLlama3(path);

        act.Should().Throw<InvalidDataException>().WithMessage($"*{path}*{line}*{problem}*");
    }

    [Fact]
    public void Special_ids_that_collide_with_ranks_are_rejected()
    {
        byte[] file = Encoding.UTF8.GetBytes("aGVsbG8= 0\nd29ybGQ= 1\n");

        var act = () => HfTokenizer.LoadTiktoken(file, "tiny.tiktoken", new Dictionary<string, int> { ["<|x|>"] = 1 }, null, null);

        act.Should().Throw<ArgumentException>().WithMessage("*tiny.tiktoken*<|x|>*id 1*");
    }
}
