using Microsoft.ML.Tokenizers;
using PromptLossWeight.Masking;

namespace PromptLossWeight.Tests.Masking;

public class MaskBuilderTests
{
    private static readonly Tokenizer Gpt2 = TiktokenTokenizer.CreateForModel("gpt2");
    private const long Eos = 50256; // <|endoftext|>

    private static long[] Encode(string text) => Gpt2.EncodeToIds(text).Select(i => (long)i).ToArray();

    [Fact]
    public void Prompt_and_completion_are_tokenized_separately_and_concatenated()
    {
        var builder = new MaskBuilder(Gpt2);
        MaskedExample e = builder.Build("Question: what is 2+2? Answer:", " 4")!;
        e.InputIds.Should().Equal([.. Encode("Question: what is 2+2? Answer:"), .. Encode(" 4")]);
        e.CompletionLength.Should().Be(Encode(" 4").Length);
        Gpt2.Decode(e.InputIds.Where((_, i) => e.CompletionMask[i]).Select(i => (int)i)).Should().Be(" 4");
    }

    [Fact]
    public void The_prompt_and_completion_masks_partition_the_real_tokens_exactly()
    {
        var builder = new MaskBuilder(Gpt2, new MaskBuilderOptions { BosId = Eos, EosId = Eos });
        MaskedExample e = builder.Build("Read the article and answer.", " B")!;
        for (int i = 0; i < e.Length; i++)
            (e.PromptMask[i] ^ e.CompletionMask[i]).Should().BeTrue($"token {i} is in exactly one mask");
        e.PromptLength.Should().Be(1 + Encode("Read the article and answer.").Length, "BOS belongs to the prompt");
        e.CompletionLength.Should().Be(Encode(" B").Length + 1, "EOS belongs to the completion");
        e.InputIds[0].Should().Be(Eos);
        e.InputIds[^1].Should().Be(Eos);
    }

    [Fact]
    public void Weights_are_PLW_on_prompt_tokens_and_1_on_completion_tokens()
    {
        var e = new MaskBuilder(Gpt2).Build([1L, 2, 3], [4L, 5])!;
        e.Weights(0.1).Should().Equal(0.1f, 0.1f, 0.1f, 1f, 1f);
        e.Weights(new RoleWeights(0, 0.5, 1)).Should().Equal(0.5f, 0.5f, 0.5f, 1f, 1f);
        FluentActions.Invoking(() => e.Weights(-0.5)).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*finite number >= 0*");
        FluentActions.Invoking(() => e.Weights(double.NaN)).Should().Throw<ArgumentOutOfRangeException>();
    }

    [Fact]
    public void Chat_turns_give_a_role_per_token()
    {
        var e = new MaskBuilder(Gpt2).BuildChat([
            new ChatTurn(TokenRole.System, "Be brief."),
            new ChatTurn(TokenRole.User, "Hi"),
            new ChatTurn(TokenRole.Assistant, "Hello"),
        ])!;
        e.Roles.Should().Equal([
            .. Enumerable.Repeat(TokenRole.System, Encode("Be brief.").Length),
            .. Enumerable.Repeat(TokenRole.User, Encode("Hi").Length),
            .. Enumerable.Repeat(TokenRole.Assistant, Encode("Hello").Length)]);
        e.Weights(new RoleWeights(0, 0.1, 1)).Take(Encode("Be brief.").Length).Should().OnlyContain(w => w == 0f);
    }

    [Fact]
    public void Truncation_cuts_the_prompt_from_the_left_and_never_removes_a_completion_token()
    {
        var builder = new MaskBuilder(Gpt2, new MaskBuilderOptions { BosId = 7, EosId = 9, MaxLength = 6 });
        MaskedExample e = builder.Build([1L, 2, 3, 4, 5, 6], [100L, 101])!;
        e.InputIds.Should().Equal(7, 5, 6, 100, 101, 9);
        e.CompletionLength.Should().Be(3);
        builder.Truncated.Should().Be(1);
        builder.Built.Should().Be(1);
    }

    [Fact]
    public void Context_first_truncation_shortens_the_article_before_the_question()
    {
        var builder = new MaskBuilder(text => text.Split(' ').Select(w => (long)w.Length).ToArray(),
            new MaskBuilderOptions { MaxLength = 7, Truncation = PromptTruncation.ContextFirst });
        MaskedExample e = builder.Build([new PromptPart("aa bbb cccc ddddd", IsContext: true), new PromptPart("q qq qqq")], "x")!;
        e.InputIds.Should().Equal([2L, 3, 4, 1, 2, 3, 1], "the end of the article goes first, the question stays");
    }

    [Fact]
    public void The_context_of_a_chat_turn_is_tokenized_on_its_own_and_shortened_first()
    {
        var builder = new MaskBuilder(text => text.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(w => (long)w.Length).ToArray(),
            new MaskBuilderOptions { MaxLength = 6, Truncation = PromptTruncation.ContextFirst });

        MaskedExample e = builder.BuildChat([
            new ChatTurn(TokenRole.User, "q aa bbb cccc ddddd qq") { Context = "aa bbb cccc ddddd" },
            new ChatTurn(TokenRole.Assistant, "x"),
        ])!;

        e.InputIds.Should().Equal([1L, 2, 3, 4, 2, 1], "only the end of the context goes; the words around it stay");
        builder.Truncated.Should().Be(1);
        FluentActions.Invoking(() => builder.BuildChat([new ChatTurn(TokenRole.User, "q") { Context = "article" }, new ChatTurn(TokenRole.Assistant, "x")]))
            .Should().Throw<ArgumentException>().WithMessage("The context of turn 0 does not occur in its content.*");
    }

    [Fact]
    public void A_completion_that_cannot_fit_is_an_error_or_a_counted_skip()
    {
        var strict = new MaskBuilder(Gpt2, new MaskBuilderOptions { MaxLength = 3 });
        FluentActions.Invoking(() => strict.Build([1L], [2L, 3, 4]))
            .Should().Throw<ArgumentException>().WithMessage("*completion needs 3 tokens*MaxLength is 3*");

        var lenient = new MaskBuilder(Gpt2, new MaskBuilderOptions { MaxLength = 3, Overflow = CompletionOverflow.Skip });
        lenient.Build([1L], [2L, 3, 4]).Should().BeNull();
        lenient.Build([1L], [2L]).Should().NotBeNull();
        lenient.Skipped.Should().Be(1);
        lenient.Built.Should().Be(1);
    }

    [Fact]
    public void Empty_completions_and_empty_prompts_are_rejected()
    {
        var builder = new MaskBuilder(Gpt2);
        FluentActions.Invoking(() => builder.Build("prompt", "")).Should().Throw<ArgumentException>().WithMessage("*no completion tokens*");
        FluentActions.Invoking(() => builder.Build("", "answer")).Should().Throw<ArgumentException>().WithMessage("*no prompt tokens*");
    }

    [Fact]
    public void Random_lengths_never_lose_a_completion_token_and_always_fit()
    {
        var random = new Random(42);
        for (int trial = 0; trial < 500; trial++)
        {
            int promptLength = random.Next(1, 40), completionLength = random.Next(1, 10), max = random.Next(2, 50);
            var builder = new MaskBuilder(Gpt2, new MaskBuilderOptions { BosId = 1, MaxLength = max, Overflow = CompletionOverflow.Skip });
            long[] completion = Enumerable.Range(1000, completionLength).Select(i => (long)i).ToArray();
            MaskedExample? e = builder.Build(Enumerable.Range(10, promptLength).Select(i => (long)i).ToArray(), completion);
            if (completionLength + 1 >= max && completionLength + 1 + promptLength > max)
            {
                e.Should().BeNull();
                continue;
            }
            e!.Length.Should().BeLessThanOrEqualTo(max);
            e.InputIds.Where((_, i) => e.CompletionMask[i]).Should().Equal(completion);
            e.InputIds[0].Should().Be(1);
        }
    }
}
