using PromptLossWeight.Llama.Chat;
using PromptLossWeight.Llama.Tests.Tokenizers;
using PromptLossWeight.Llama.Tokenizers;
using PromptLossWeight.Masking;

namespace PromptLossWeight.Llama.Tests.Chat;

public class MaskBuilderIntegrationTests
{
    private static readonly HfTokenizer Tokenizer = HfTokenizer.LoadSentencePiece(TestTokenizers.SentencePieceModelBytes(), "tiny sentencepiece");

    private static readonly ChatTurn[] Conversation =
    [
        new(TokenRole.System, "You are terse."),
        new(TokenRole.User, "hello world"),
        new(TokenRole.Assistant, "the answer"),
    ];

    [Fact]
    public void The_mask_builder_turns_template_segments_into_the_same_ids_and_roles()
    {
        var rendered = new Llama2ChatTemplate(Tokenizer).Render(Conversation);
        var builder = new MaskBuilder(text => Tokenizer.Encode(text));

        var example = builder.Build(rendered.Segments)!;

        example.InputIds.Should().Equal(rendered.Ids);
        example.Roles.Should().Equal(rendered.Roles);
        example.CompletionLength.Should().Be(Tokenizer.Encode(" the answer ", atStart: false).Count + 1);
    }

    [Fact]
    public void A_turns_context_flows_through_the_spans_into_context_first_truncation()
    {
        ChatTurn[] conversation =
        [
            new(TokenRole.User, "Article: hello world hello world. Question: the answer?") { Context = "hello world hello world." },
            new(TokenRole.Assistant, "the answer"),
        ];
        var rendered = new Llama2ChatTemplate(Tokenizer).Render(conversation);
        ChatSpan context = rendered.Spans.Should().ContainSingle(s => s.IsContext).Subject;
        int contextTokens = context.Ids.Count;
        var builder = new MaskBuilder(text => Tokenizer.Encode(text),
            new MaskBuilderOptions { MaxLength = rendered.Ids.Length - 2, Truncation = PromptTruncation.ContextFirst });

        var example = builder.Build(rendered.Segments)!;

        context.Text.Should().Be("hello world hello world.");
        context.Role.Should().Be(TokenRole.User);
        rendered.Segments.Count(s => s.IsContext).Should().Be(1);
        string.Concat(rendered.Spans.Select(s => s.Text)).Should().Be(rendered.Text);
        int start = rendered.Spans.TakeWhile(s => !s.IsContext).Sum(s => s.Ids.Count);
        example.InputIds.Should().Equal([.. rendered.Ids[..(start + contextTokens - 2)], .. rendered.Ids[(start + contextTokens)..]],
            "the last two context tokens go, everything around the context stays");
    }

    [Fact]
    public void A_context_that_is_not_in_its_turn_is_an_error()
    {
        ChatTurn[] conversation = [new(TokenRole.User, "hello") { Context = "article" }, new(TokenRole.Assistant, "hi")];

        var act = () => new Llama2ChatTemplate(Tokenizer).Render(conversation);

        act.Should().Throw<ArgumentException>().WithMessage("*context does not occur*article*");
    }

    [Fact]
    public void Role_weights_give_system_user_and_assistant_tokens_their_weights()
    {
        var example = new Llama2ChatTemplate(Tokenizer).Render(Conversation).ToMaskedExample();

        var weights = example.Weights(new RoleWeights(System: 0, User: 0.1, Assistant: 1));

        for (int i = 0; i < example.Length; i++)
            weights[i].Should().Be(example.Roles[i] switch { TokenRole.System => 0f, TokenRole.User => 0.1f, _ => 1f });
        weights.Should().Contain(0f).And.Contain(0.1f).And.Contain(1f);
    }

    [Fact]
    public void Truncation_cuts_the_prompt_and_keeps_the_whole_completion()
    {
        var rendered = new Llama2ChatTemplate(Tokenizer).Render(Conversation);
        int completion = rendered.Roles.Count(r => r == TokenRole.Assistant);
        var builder = Tokenizer.CreateMaskBuilder(new MaskBuilderOptions { MaxLength = completion + 3 });

        var example = builder.Build(rendered.Segments)!;

        example.Length.Should().Be(completion + 3);
        example.InputIds.Should().EndWith(rendered.Ids[^completion..]);
        builder.Truncated.Should().Be(1);
    }

    [Fact]
    public void A_plain_prompt_completion_pair_can_use_the_tokenizers_bos_and_eos()
    {
        var builder = Tokenizer.CreateMaskBuilder(new MaskBuilderOptions { BosId = Tokenizer.BosId, EosId = Tokenizer.EosId });

        var example = builder.Build("hello </s>", "the answer")!;

        example.InputIds.Should().Equal([Tokenizer.BosId!.Value, .. Tokenizer.Encode("hello </s>"), .. Tokenizer.Encode("the answer"), Tokenizer.EosId!.Value]);
        example.InputIds.Count(id => id == Tokenizer.EosId).Should().Be(1, "the '</s>' in the prompt text is text");
    }
}
