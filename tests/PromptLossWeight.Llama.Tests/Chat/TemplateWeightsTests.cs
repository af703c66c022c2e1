using Microsoft.ML.Tokenizers;
using PromptLossWeight.Llama.Chat;
using PromptLossWeight.Llama.Tests.Support;
using PromptLossWeight.Llama.Tests.Tokenizers;
using PromptLossWeight.Llama.Tokenizers;
using PromptLossWeight.Masking;

namespace PromptLossWeight.Llama.Tests.Chat;

/// <summary>
/// Weights where the templates put tokens: message weights on every token of the turn, a thinking span weighted apart
/// from the answer, and <see cref="TemplateTokens"/> choosing what role headers, the assistant header (generation
/// prompt) and the end of turn carry, on the Llama-3, ChatML and Qwen3 templates.
/// </summary>
public sealed class TemplateWeightsTests : IDisposable
{
    /// <summary>
    /// The parts of Qwen3's chat_template that lay out a conversation without tools, written for this test: the thinking
    /// of an assistant message after the last user message is split off its content and written back between
    /// <c>&lt;think&gt;\n</c> and <c>\n&lt;/think&gt;\n\n</c> (empty when there is none, for the last message); earlier
    /// assistant messages lose their thinking.
    /// </summary>
    private const string Qwen3Template =
        "{%- set ns = namespace(last_query_index=messages|length - 1) %}\n" +
        "{%- for message in messages %}{%- if message.role == 'user' %}{%- set ns.last_query_index = loop.index0 %}{%- endif %}{%- endfor %}\n" +
        "{%- for message in messages %}\n" +
        "{%- set content = message.content %}\n" +
        "{%- if message.role == 'assistant' %}\n" +
        "{%- set reasoning_content = '' %}\n" +
        "{%- if '</think>' in content %}\n" +
        "{%- set reasoning_content = content.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') %}\n" +
        "{%- set content = content.split('</think>')[-1].lstrip('\\n') %}\n" +
        "{%- endif %}\n" +
        "{%- if loop.index0 > ns.last_query_index and (loop.last or reasoning_content) %}\n" +
        "{{- '<|im_start|>assistant\\n<think>\\n' + reasoning_content.strip('\\n') + '\\n</think>\\n\\n' + content.lstrip('\\n') }}\n" +
        "{%- else %}\n" +
        "{{- '<|im_start|>assistant\\n' + content }}\n" +
        "{%- endif %}\n" +
        "{{- '<|im_end|>\\n' }}\n" +
        "{%- else %}\n" +
        "{{- '<|im_start|>' + message.role + '\\n' + content + '<|im_end|>\\n' }}\n" +
        "{%- endif %}\n" +
        "{%- endfor %}\n" +
        "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}\n" +
        "";

    private readonly TempFolder _folder = new();
    private readonly HfTokenizer _llama3;

    public TemplateWeightsTests() => _llama3 = TestTokenizers.LoadLlama3(_folder);

    public void Dispose() => _folder.Dispose();

    /// <summary>GPT-2 with the ChatML tokens and Qwen3's thinking tags added after its vocabulary.</summary>
    private static HfTokenizer Qwen3Tokenizer()
    {
        var extra = new Dictionary<string, int> { ["<|im_start|>"] = 50257, ["<|im_end|>"] = 50258, ["<think>"] = 50259, ["</think>"] = 50260 };
        return HfTokenizer.FromTokenizer(TiktokenTokenizer.CreateForModel("gpt2", extra), eosToken: "<|endoftext|>", vocabSize: 50261, source: "gpt2+qwen3");
    }

    private static readonly ChatTurn[] Weighted =
    [
        new(TokenRole.System, "Be brief.") { Weight = 0.5 },
        new(TokenRole.User, "hello") { Weight = 2 },
        new(TokenRole.Assistant, "world") { Weight = 3 },
    ];

    [Fact]
    public void A_message_weight_covers_its_header_content_and_end_of_turn_on_llama3()
    {
        var rendered = new Llama3ChatTemplate(_llama3).Render(Weighted);

        rendered.TextWhere(_llama3, (_, w) => w == 0.5f).Should().Be("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>");
        rendered.TextWhere(_llama3, (_, w) => w == 2f).Should().Be("<|start_header_id|>user<|end_header_id|>\n\nhello<|eot_id|>");
        rendered.TextWhere(_llama3, (_, w) => w == 3f).Should().Be("<|start_header_id|>assistant<|end_header_id|>\n\nworld<|eot_id|>");
        rendered.Ids.Should().Equal(new Llama3ChatTemplate(_llama3).Render(Weighted.Select(t => t with { Weight = 1 }).ToList()).Ids,
            "weights never change the tokens here: each turn's runs have one weight");
        rendered.SpansMatchTheirTokens(_llama3);
    }

    [Fact]
    public void Template_tokens_choose_what_headers_the_generation_prompt_and_the_end_of_turn_carry_on_llama3()
    {
        var conversation = new ChatTurn[] { new(TokenRole.User, "hello"), new(TokenRole.Assistant, "world") };
        var none = new Llama3ChatTemplate(_llama3) { TemplateTokens = new TemplateTokens { Header = TemplateTokenWeight.None, EndOfTurn = TemplateTokenWeight.None } };
        var turn = new Llama3ChatTemplate(_llama3) { TemplateTokens = new TemplateTokens { GenerationPrompt = TemplateTokenWeight.Turn, EndOfTurn = TemplateTokenWeight.Prompt } };

        var withoutTemplateTokens = none.Render(conversation);
        var assistantHeaderTrained = turn.Render(conversation);

        withoutTemplateTokens.TextWhere(_llama3, (_, w) => w > 0).Should().Be(
            "hello<|start_header_id|>assistant<|end_header_id|>\n\nworld", "user header and both ends of turn weigh 0; the assistant header stays prompt");
        withoutTemplateTokens.TextOf(_llama3, TokenRole.Assistant).Should().Be("world");
        assistantHeaderTrained.TextOf(_llama3, TokenRole.Assistant).Should().Be("<|start_header_id|>assistant<|end_header_id|>\n\nworld",
            "the assistant header is trained with the turn, its end of turn is prompt");
        assistantHeaderTrained.TextOf(_llama3, TokenRole.User).Should().EndWith("hello<|eot_id|><|eot_id|>");
        new Llama3ChatTemplate(_llama3).Render(conversation).TextOf(_llama3, TokenRole.Assistant).Should().Be("world<|eot_id|>", "the default: train_on_eos turn");
    }

    [Fact]
    public void A_thinking_weight_weighs_the_think_block_apart_from_the_answer_on_llama3_and_chatml()
    {
        var conversation = new ChatTurn[]
        {
            new(TokenRole.User, "2+2?"),
            new(TokenRole.Assistant, "<think>add them</think>It is 4.") { Weight = 2, ThinkingWeight = 0.25 },
        };
        var gpt2 = TestTokenizers.Gpt2WithChatML();

        var llama3 = new Llama3ChatTemplate(_llama3).Render(conversation);
        var chatml = new ChatMLTemplate(gpt2).Render(conversation);

        llama3.TextWhere(_llama3, (r, w) => r == TokenRole.Assistant && w == 0.5f).Should().Be("<think>add them</think>");
        llama3.TextWhere(_llama3, (r, w) => r == TokenRole.Assistant && w == 2f).Should().Be("It is 4.<|eot_id|>");
        chatml.TextWhere(gpt2, (r, w) => r == TokenRole.Assistant && w == 0.5f).Should().Be("<think>add them</think>");
        chatml.TextWhere(gpt2, (r, w) => r == TokenRole.Assistant && w == 2f).Should().Be("It is 4.<|im_end|>");
        chatml.Text.Should().Be("<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n<think>add them</think>It is 4.<|im_end|>\n");
        chatml.SpansMatchTheirTokens(gpt2);
    }

    [Fact]
    public void Llama2_weighs_each_exchange_as_its_messages_and_its_eos_follows_the_end_of_turn_option()
    {
        var tokenizer = TestTokenizers.LoadSentencePiece(_folder);
        var template = new Llama2ChatTemplate(tokenizer) { TemplateTokens = new TemplateTokens { EndOfTurn = TemplateTokenWeight.None } };

        var rendered = template.Render([new(TokenRole.User, "hello") { Weight = 2 }, new(TokenRole.Assistant, "world") { Weight = 3 }]);

        rendered.WeightedLayout().Should().Equal(
            ("<s>", TokenRole.User, 2.0), ("[INST] hello [/INST]", TokenRole.User, 2.0), (" world ", TokenRole.Assistant, 3.0), ("</s>", TokenRole.User, 0.0));
        new Llama2ChatTemplate(tokenizer).Render([new(TokenRole.User, "hello"), new(TokenRole.Assistant, "world")])
            .WeightedLayout()[^1].Should().Be(("</s>", TokenRole.Assistant, 1.0), "by default the EOS is trained with the answer");
    }

    [Fact]
    public void Chatml_template_tokens_follow_the_options_and_message_weights()
    {
        var gpt2 = TestTokenizers.Gpt2WithChatML();
        var template = new ChatMLTemplate(gpt2) { TemplateTokens = new TemplateTokens { EndOfTurn = TemplateTokenWeight.None } };

        var rendered = template.Render(Weighted);

        rendered.TextWhere(gpt2, (r, w) => r == TokenRole.Assistant && w > 0).Should().Be("world");
        rendered.TextWhere(gpt2, (_, w) => w == 0).Should().Be("<|im_end|><|im_end|><|im_end|>");
        rendered.TextWhere(gpt2, (_, w) => w == 2f).Should().Be("\n<|im_start|>user\nhello", "the newline before a header weighs as that header");
        new ChatMLTemplate(gpt2).Render(Weighted).TextOf(gpt2, TokenRole.Assistant).Should().Be("world<|im_end|>");
    }

    [Fact]
    public void The_jinja_chatml_template_gives_the_ids_roles_and_weights_of_the_builtin_chatml_template()
    {
        const string chatml = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
            + "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
        var gpt2 = TestTokenizers.Gpt2WithChatML();
        var options = new TemplateTokens { Header = TemplateTokenWeight.None, GenerationPrompt = TemplateTokenWeight.Turn, EndOfTurn = TemplateTokenWeight.Prompt };
        var conversation = new ChatTurn[]
        {
            new(TokenRole.System, "Be brief.") { Weight = 0.5 },
            new(TokenRole.User, "2+2?") { Weight = 2 },
            new(TokenRole.Assistant, "<think>add them</think>It is 4.") { Weight = 3, ThinkingWeight = 0.1 },
            new(TokenRole.User, "and 3+3?"),
            new(TokenRole.Assistant, "6") { Weight = 0.25 },
        };

        foreach (var tokens in new[] { TemplateTokens.Default, options })
        {
            var builtIn = new ChatMLTemplate(gpt2) { TemplateTokens = tokens }.Render(conversation);
            var jinja = new JinjaChatTemplate(gpt2, chatml) { TemplateTokens = tokens }.Render(conversation);

            jinja.Text.Should().Be(builtIn.Text);
            jinja.Ids.Should().Equal(builtIn.Ids);
            jinja.Roles.Should().Equal(builtIn.Roles);
            jinja.Weights.Should().Equal(builtIn.Weights);
        }
    }

    [Fact]
    public void Qwen3_splits_the_thinking_off_and_writes_it_back_and_the_thinking_and_answer_weigh_apart()
    {
        var tokenizer = Qwen3Tokenizer();
        var template = new JinjaChatTemplate(tokenizer, Qwen3Template, name: "qwen3");
        var conversation = new ChatTurn[]
        {
            new(TokenRole.User, "What is 2+2?"),
            new(TokenRole.Assistant, "<think>\nadd them\n</think>\n\n4") { ThinkingWeight = 0 },
        };

        var rendered = template.Render(conversation);

        rendered.Text.Should().Be("<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n<think>\nadd them\n</think>\n\n4<|im_end|>\n");
        rendered.TextWhere(tokenizer, (r, w) => r == TokenRole.Assistant && w == 0).Should().Be("<think>\nadd them\n</think>\n\n");
        rendered.TextWhere(tokenizer, (r, w) => r == TokenRole.Assistant && w == 1).Should().Be("4<|im_end|>");
        rendered.Spans.Where(s => s.IsSpecial).Select(s => s.Text).Should().Contain(["<think>", "</think>"], "the template writes the tags, so they are its tokens");
        rendered.SpansMatchTheirTokens(tokenizer);
    }

    [SkippableFact]
    public void The_real_qwen3_template_weighs_the_thinking_and_the_answer_apart()
    {
        var template = ChatTemplate.FromPretrained(ReferenceTools.TokenizerFolder("qwen3"));
        var conversation = new ChatTurn[]
        {
            new(TokenRole.User, "What is 2+2?"),
            new(TokenRole.Assistant, "<think>\nadd them\n</think>\n\n4") { ThinkingWeight = 0 },
        };

        var rendered = template.Render(conversation);

        rendered.Text.Should().Be("<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n<think>\nadd them\n</think>\n\n4<|im_end|>\n");
        rendered.TextWhere(template.Tokenizer, (r, w) => r == TokenRole.Assistant && w == 0).Should().Be("<think>\nadd them\n</think>\n\n");
        rendered.TextWhere(template.Tokenizer, (r, w) => r == TokenRole.Assistant && w == 1).Should().Be("4<|im_end|>");
    }

    [Fact]
    public void Qwen3_empty_think_block_is_part_of_the_generation_prompt_and_history_loses_its_thinking()
    {
        var tokenizer = Qwen3Tokenizer();
        var conversation = new ChatTurn[]
        {
            new(TokenRole.User, "Hi"), new(TokenRole.Assistant, "<think>old</think>Hello"),
            new(TokenRole.User, "2+2?"), new(TokenRole.Assistant, "4"),
        };
        var byDefault = new JinjaChatTemplate(tokenizer, Qwen3Template, name: "qwen3");
        var trained = new JinjaChatTemplate(tokenizer, Qwen3Template, name: "qwen3") { TemplateTokens = new TemplateTokens { GenerationPrompt = TemplateTokenWeight.Turn } };
        var excluded = new JinjaChatTemplate(tokenizer, Qwen3Template, name: "qwen3");
        excluded.TemplateTokens = new TemplateTokens { GenerationPrompt = TemplateTokenWeight.None }; // as on a template from FromPretrained

        var prompt = byDefault.Render(conversation);

        prompt.Text.Should().Be("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n"
            + "<|im_start|>assistant\n<think>\n\n</think>\n\n4<|im_end|>\n");
        prompt.TextOf(tokenizer, TokenRole.Assistant).Should().Be("Hello<|im_end|>4<|im_end|>");
        trained.Render(conversation).TextOf(tokenizer, TokenRole.Assistant).Should().Be(
            "<|im_start|>assistant\nHello<|im_end|><|im_start|>assistant\n<think>\n\n</think>\n\n4<|im_end|>");
        excluded.Render(conversation).TextWhere(tokenizer, (_, w) => w == 0).Should().Be(
            "\n<|im_start|>assistant\n\n<|im_start|>assistant\n<think>\n\n</think>\n\n", "the glue before each assistant header and the header itself weigh 0");
    }

    [Fact]
    public void Rendered_weights_reach_the_mask_and_an_unweighted_answer_is_a_counted_skip()
    {
        var template = new Llama3ChatTemplate(_llama3);
        var builder = new MaskBuilder(_ => throw new InvalidOperationException("segments are already tokenized"));

        var example = builder.Build(template.Render(Weighted).Segments)!;
        var skipped = builder.Build(template.Render([new(TokenRole.User, "hello"), new(TokenRole.Assistant, "world") { Weight = 0 }]).Segments);

        var rendered = template.Render(Weighted);
        example.Weights(0.1).Should().Equal(rendered.Roles.Select((r, i) => (float)((r == TokenRole.Assistant ? 1 : 0.1) * rendered.Weights[i])));
        skipped.Should().BeNull();
        builder.SkippedZeroWeight.Should().Be(1);
    }
}
