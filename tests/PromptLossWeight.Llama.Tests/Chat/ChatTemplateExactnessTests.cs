using PromptLossWeight.Llama.Chat;
using PromptLossWeight.Llama.Tests.Support;
using PromptLossWeight.Llama.Tokenizers;
using PromptLossWeight.Masking;
using Xunit.Abstractions;

namespace PromptLossWeight.Llama.Tests.Chat;

/// <summary>
/// The built-in templates and <see cref="ChatTemplate.FromPretrained(string)"/> render exactly what Jinja2 renders
/// from the models' real chat_template strings (Hugging Face's trim_blocks and lstrip_blocks), on 150 generated
/// conversations, each for training and with the generation prompt.
/// </summary>
public class ChatTemplateExactnessTests(ITestOutputHelper output)
{
    private const int Conversations = 150;

    /// <summary>Llama-2-chat's chat_template as its tokenizer_config.json has it.</summary>
    private const string Llama2Template =
        "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}"
        + "{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
        + "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
        + "{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
        + "{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
        + "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}";

    /// <summary>The ChatML chat_template (as in Hugging Face's chat-template documentation).</summary>
    private const string ChatMLTemplateText =
        "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
        + "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    [SkippableFact]
    public void The_builtin_llama3_template_renders_what_jinja2_renders_from_the_real_llama3_1_template()
    {
        string folder = ReferenceTools.TokenizerFolder("llama3_1");
        var template = new Llama3ChatTemplate(TokenizerLoader.Load(folder).Tokenizer);

        AssertBuiltInEqualsJinja("llama-3", template, ReferenceTools.ChatTemplateOf(folder), ReferenceTools.TokenFieldsOf(folder));
    }

    [SkippableFact]
    public void The_builtin_llama2_template_renders_what_jinja2_renders_from_the_llama2_chat_template()
    {
        string folder = ReferenceTools.TokenizerFolder("llama2");
        var template = new Llama2ChatTemplate(TokenizerLoader.Load(folder).Tokenizer);

        AssertBuiltInEqualsJinja("llama-2", template, Llama2Template, new Dictionary<string, object?> { ["bos_token"] = "<s>", ["eos_token"] = "</s>" });
    }

    [SkippableFact]
    public void The_builtin_chatml_template_renders_what_jinja2_renders_from_the_chatml_template()
    {
        string folder = ReferenceTools.TokenizerFolder("qwen3");
        var template = new ChatMLTemplate(TokenizerLoader.Load(folder).Tokenizer);

        AssertBuiltInEqualsJinja("chatml", template, ChatMLTemplateText, new Dictionary<string, object?>());
    }

    [SkippableTheory]
    [InlineData("llama3")]
    [InlineData("llama3_1")]
    [InlineData("qwen3")]
    [InlineData("gemma3")]
    [InlineData("deepseek_v3")]
    public void From_pretrained_renders_what_jinja2_renders_from_the_folders_own_template(string name)
    {
        string folder = ReferenceTools.TokenizerFolder(name);
        var template = ChatTemplate.FromPretrained(folder);
        var cases = ConversationCorpus.Cases(Conversations);
        var expected = ReferenceTools.JinjaRender(ReferenceTools.ChatTemplateOf(folder), ReferenceTools.TokenFieldsOf(folder), cases);

        int equal = 0;
        for (int i = 0; i < cases.Count; i++)
        {
            var (messages, generation) = cases[i];
            expected[i].Should().NotBeNull($"Jinja2 renders case {i}");
            var rendered = generation ? template.RenderGenerationPrompt(messages) : template.Render(messages);
            rendered.Text.Should().Be(expected[i], $"case {i} ({(generation ? "generation prompt" : "training")})");
            template.RenderText(messages, generation).Should().Be(expected[i]);
            rendered.SpansMatchTheirTokens(template.Tokenizer);
            equal++;
        }
        output.WriteLine($"{name}: {equal}/{cases.Count} renderings equal to Jinja2");
    }

    [SkippableTheory]
    [InlineData("llama3_1", "<|eot_id|>")]
    [InlineData("qwen3", "<|im_end|>")]
    [InlineData("gemma3", "<end_of_turn>")]
    [InlineData("deepseek_v3", "<｜end▁of▁sentence｜>")]
    public void From_pretrained_masks_exactly_the_assistant_content_and_its_end_of_turn_token(string name, string endOfTurn)
    {
        string folder = ReferenceTools.TokenizerFolder(name);
        var template = ChatTemplate.FromPretrained(folder);

        foreach (var conversation in ConversationCorpus.Generate(40))
        {
            var rendered = template.Render(conversation);
            string completion = string.Concat(rendered.Spans.Where(s => s.Role == TokenRole.Assistant).Select(s => s.Text));
            var assistant = conversation.Where(t => t.Role == TokenRole.Assistant).Select(t => t.Content).ToList();
            // The completion is each assistant content as the template renders it (as given or trimmed), then its end of turn.
            var remaining = completion;
            foreach (string content in assistant)
            {
                string rendition = new[] { content, content.Trim() }.FirstOrDefault(c => remaining.StartsWith(c + endOfTurn, StringComparison.Ordinal))
                    ?? throw new Xunit.Sdk.XunitException($"the completion '{remaining}' does not start with '{content}' (or it trimmed) and {endOfTurn}");
                remaining = remaining[(rendition.Length + endOfTurn.Length)..];
            }
            remaining.Should().BeEmpty("nothing but assistant content and its end-of-turn token is completion");
        }
    }

    [SkippableFact]
    public void From_pretrained_llama3_gives_the_ids_and_completion_mask_of_the_builtin_llama3_template()
    {
        string folder = ReferenceTools.TokenizerFolder("llama3_1");
        var fromFolder = ChatTemplate.FromPretrained(folder);
        var builtIn = new Llama3ChatTemplate(fromFolder.Tokenizer);

        foreach (var conversation in ConversationCorpus.Generate(60))
        {
            var a = fromFolder.Render(conversation);
            var b = builtIn.Render(conversation);
            a.Ids.Should().Equal(b.Ids);
            a.Roles.Select(r => r == TokenRole.Assistant).Should().Equal(b.Roles.Select(r => r == TokenRole.Assistant));
        }
    }

    private void AssertBuiltInEqualsJinja(string name, ChatTemplate template, string jinja, IReadOnlyDictionary<string, object?> context)
    {
        var cases = ConversationCorpus.Cases(Conversations);
        var expected = ReferenceTools.JinjaRender(jinja, context, cases);
        for (int i = 0; i < cases.Count; i++)
        {
            var (messages, generation) = cases[i];
            var rendered = generation ? template.RenderGenerationPrompt(messages) : template.Render(messages);
            rendered.Text.Should().Be(expected[i], $"case {i} ({(generation ? "generation prompt" : "training")})");
        }
        output.WriteLine($"{name}: {cases.Count}/{cases.Count} renderings equal to Jinja2");
    }
}
