using PromptLossWeight.Llama.Chat;
using PromptLossWeight.Llama.Chat.Jinja;
using PromptLossWeight.Llama.Tests.Support;
using PromptLossWeight.Masking;

namespace PromptLossWeight.Llama.Tests.Chat;

public class JinjaTemplateTests
{
    private static readonly IReadOnlyList<ChatTurn> Conversation =
    [
        new(TokenRole.System, "  Be brief.  "),
        new(TokenRole.User, "Hi <think>a</think> there\n"),
        new(TokenRole.Assistant, " Hello! "),
    ];

    /// <summary>Snippets that exercise each supported construct, rendered by Jinja2 as the reference.</summary>
    public static TheoryData<string> Snippets =>
    [
        "{% for m in messages %}{{ loop.index0 }}{{ loop.index }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.revindex }}:{{ m.role }}|{% endfor %}",
        "{% for m in messages[1:] %}{{ m['content'] | trim }};{% endfor %}{% for m in messages[::-1] %}{{ m.role[0] }}{% endfor %}{{ messages[-1].role }}",
        "{% set ns = namespace(n=0, s='') %}{% for m in messages %}{% set ns.n = ns.n + 1 %}{% set ns.s = ns.s ~ m.role[:1] %}{% endfor %}{{ ns.n }} {{ ns.s }}",
        "{% set x = 1 %}{% for m in messages %}{% set x = x + 10 %}{% endfor %}{{ x }}",
        "{% if messages|length > 2 %}many{% elif messages|length == 2 %}two{% else %}few{% endif %} {{ messages|length - 1 }}",
        "{{ 'a' if x is defined else 'b' }}{{ 'c' if messages is defined }}{{ undefined_thing }}{% if y is not defined %}!{% endif %}{{ none is none }}",
        "{{ 'think' in messages[1].content }} {{ 'x' not in 'abc' }} {{ 'user' in ['user', 'a'] }} {{ 'role' in messages[0] }}",
        "{{ messages[1].content.split('</think>')[-1].lstrip('\\n') }}|{{ messages[1].content.split('<think>')[0].strip() }}|{{ '  a b  '.split() }}",
        "{{ messages[0].content.startswith('  Be') }}{{ messages[0].content.endswith(('x', '  ')) }}{{ 'AbC'.upper() }}{{ 'AbC'.lower() }}{{ 'hello world'.title() }}",
        "{{ messages[2] | tojson }} {{ {'a': [1, 2.5, true, none], 'b': 'q\"\\n'} | tojson }} {{ [1, 2] | tojson(indent=2) }}",
        "{{ 1 + 2 * 3 }} {{ 7 // 2 }} {{ 7 % 3 }} {{ 2 ** 10 }} {{ 7 / 2 }} {{ -3 }} {{ 1 - 5 }} {{ 'ab' * 3 }} {{ 3.0 }} {{ 0.1 + 0.2 }}",
        "{{ 'a' ~ 1 ~ none ~ true }} {{ 'x' + 'y' }} {{ [1] + [2] }} {{ (1, 2) }} {{ [1, 'a', none, true] }} {{ {'k': 'v'} }}",
        "{%- for m in messages -%}\n  {{- m.role }}\n{%- endfor %}\n  {% if true %}\n    yes\n  {% endif %}\n{# a comment #}\nend",
        "{% for m in messages %}\n    {% if m.role == 'user' %}\n        U:{{ m.content }}\n    {% endif %}\n{% endfor %}\n",
        "{{ messages[0].items() | list }}{% for k, v in messages[0].items() %}{{ k }}={{ v | trim }};{% endfor %}{{ messages[0].get('nope', 'dflt') }}{{ messages[0].keys() | list | length }}",
        "{% for m in messages if m.role != 'system' %}{{ m.role }}{% else %}none{% endfor %}{% for i in range(3) %}{% if i == 1 %}{% continue %}{% endif %}{{ i }}{% endfor %}",
        "{% for i in range(5) %}{% if i == 3 %}{% break %}{% endif %}{{ i }}{% endfor %}{{ range(2, 8, 3) | list }}",
        "{{ messages | map(attribute='role') | join(', ') }} {{ messages | selectattr('role', 'equalto', 'user') | list | length }} {{ (messages | rejectattr('role', 'equalto', 'user') | first).role }}",
        "{{ 'x' | default('d') }}{{ nothing | default('d') }}{{ '' | default('e', true) }}{{ 'abc' | length }}{{ [3, 1] | first }}{{ [3, 1] | last }}{{ 'ab' | upper }}",
        "{{ messages[0].content | trim | capitalize }}{{ '3' | int + 1 }}{{ '2.5' | float }}{{ -4 | abs }}{{ 'a-b' | replace('-', '+') }}{{ [1, 2] | reverse | list }}",
        "{{ 1 == 1.0 }}{{ true == 1 }}{{ 'a' < 'b' }}{{ not true }}{{ true and 'x' }}{{ false or '' or 'z' }}{{ 2 >= 3 }}{{ none == none }}",
        "{% if messages[0]['role'] == 'system' %}{% set sys = messages[0]['content'] %}{% set rest = messages[1:] %}{% else %}{% set sys = '' %}{% set rest = messages %}{% endif %}[{{ sys }}]{{ rest | length }}",
        "{{ 'It\\'s' }} {{ \"say \\\"hi\\\"\" }} {{ 'tab\\there' }} {{ 'a' 'b' }}",
        "{{ messages[1].content is string }}{{ 3 is number }}{{ messages is iterable }}{{ messages[0] is mapping }}{{ 4 is even }}{{ 3 is odd }}{{ 6 is divisibleby 3 }}{{ false is false }}",
        "  {%+ if true +%}\nkept\n  {% endif %}\n{{ 'done' }}",
        "{{ '  x\\n\\n'.rstrip('\\n') }}|{{ 'xxaxx'.strip('x') }}|{{ 'a,b,,c'.split(',') }}|{{ 'a b c'.split(' ', 1) }}|{{ ', '.join(['p', 'q']) }}",
    ];

    [SkippableTheory]
    [MemberData(nameof(Snippets))]
    public void A_supported_construct_renders_what_jinja2_renders(string template)
    {
        var context = new Dictionary<string, object?> { ["x"] = 5, ["bos_token"] = "<s>" };
        var expected = ReferenceTools.JinjaRender(template, context, [(Conversation, false)]);

        var variables = new Dictionary<string, object?>(context)
        {
            ["messages"] = Conversation.Select(t => new Dictionary<string, object?> { ["role"] = t.Role.ToString().ToLowerInvariant(), ["content"] = t.Content }).ToList(),
            ["add_generation_prompt"] = false,
        };
        JinjaTemplate.Parse(template).Render(variables).Should().Be(expected[0]);
    }

    [Theory]
    [InlineData("{% macro f() %}x{% endmacro %}", "'{% macro %}'")]
    [InlineData("{% include 'other.jinja' %}", "'{% include %}'")]
    [InlineData("{% generation %}x{% endgeneration %}", "'{% generation %}'")]
    [InlineData("{% set x %}block{% endset %}", "block set")]
    [InlineData("{% for x in y recursive %}{% endfor %}", "recursive")]
    [InlineData("{% if true %}never closed", "endif")]
    [InlineData("{{ 'unclosed }}", "never closed")]
    public void An_unsupported_or_broken_template_fails_when_parsed_naming_the_construct(string template, string named)
    {
        FluentActions.Invoking(() => JinjaTemplate.Parse(template)).Should().Throw<JinjaException>().WithMessage($"*{named}*");
    }

    [Theory]
    [InlineData("{{ 'a' | wordcount }}", "the filter 'wordcount' is not supported")]
    [InlineData("{{ 'a'.format(1) }}", "'format'")]
    [InlineData("{{ 1 is sameas }}", "needs an argument")]
    [InlineData("{{ strftime_now('%d') }}", "'strftime_now' is not a function")]
    public void An_unsupported_filter_method_or_function_fails_when_rendered_naming_it(string template, string named)
    {
        FluentActions.Invoking(() => JinjaTemplate.Parse(template).Render(new Dictionary<string, object?>())).Should()
            .Throw<JinjaException>().WithMessage($"*{named}*");
    }

    [Fact]
    public void Raise_exception_in_a_model_template_rejects_the_conversation_with_the_templates_message()
    {
        using var folder = new Tokenizers.TempFolder();
        var tokenizer = Tokenizers.TestTokenizers.LoadSentencePiece(folder);
        var template = new JinjaChatTemplate(tokenizer,
            "{% for m in messages %}{% if (m.role == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Roles must alternate') }}{% endif %}{{ m.content }}{% endfor %}");

        FluentActions.Invoking(() => template.Render([new(TokenRole.Assistant, "a"), new(TokenRole.User, "b"), new(TokenRole.Assistant, "c")]))
            .Should().Throw<ArgumentException>().WithMessage("*Roles must alternate*");
    }

    [Fact]
    public void A_template_whose_layout_depends_on_the_content_renders_its_text_but_refuses_masks()
    {
        using var folder = new Tokenizers.TempFolder();
        var template = new JinjaChatTemplate(Tokenizers.TestTokenizers.LoadSentencePiece(folder),
            "{% for m in messages %}{% if 'secret' in m.content %}[flagged]{% endif %}{{ m.content }}{% endfor %}");
        IReadOnlyList<ChatTurn> turns = [new(TokenRole.User, "a secret"), new(TokenRole.Assistant, "b")];

        template.RenderText(turns, addGenerationPrompt: false).Should().Be("[flagged]a secretb");
        FluentActions.Invoking(() => template.Render(turns)).Should().Throw<InvalidOperationException>()
            .WithMessage("*renders message 0 (user) differently*layout depends on the content*");
    }

    [Fact]
    public void From_pretrained_names_the_file_and_the_construct_when_the_template_is_unsupported()
    {
        using var folder = new Tokenizers.TempFolder();
        Tokenizers.TestTokenizers.LoadSentencePiece(folder);
        string config = folder.Write("tokenizer_config.json", """{ "bos_token": "<s>", "eos_token": "</s>", "chat_template": "{% macro m() %}{% endmacro %}" }""");

        FluentActions.Invoking(() => ChatTemplate.FromPretrained(folder.Path)).Should().Throw<InvalidDataException>()
            .WithMessage($"{config}: chat_template line 1: the construct '{{% macro %}}' is not supported*");
    }

    [Fact]
    public void From_pretrained_spans_give_each_message_its_role_and_the_assistant_end_of_turn_to_the_completion()
    {
        using var folder = new Tokenizers.TempFolder();
        Tokenizers.TestTokenizers.LoadSentencePiece(folder);
        folder.Write("tokenizer_config.json", """
            { "bos_token": "<s>", "eos_token": "</s>",
              "chat_template": "{{ bos_token }}{% for m in messages %}{% if m.role == 'assistant' %}{{ ' ' + m.content | trim + ' ' + eos_token }}{% else %}{{ '[' + m.role + '] ' + m.content }}{% endif %}{% endfor %}" }
            """);
        var template = ChatTemplate.FromPretrained(folder.Path);

        var rendered = template.Render([new(TokenRole.System, "sys"), new(TokenRole.User, "hello world"), new(TokenRole.Assistant, " the answer ")]);

        rendered.Text.Should().Be("<s>[system] sys[user] hello world the answer </s>");
        rendered.Layout().Should().Equal(
            ("<s>", TokenRole.System), ("[system] sys", TokenRole.System), ("[user] hello world ", TokenRole.User),
            ("the answer ", TokenRole.Assistant), ("</s>", TokenRole.Assistant));
        rendered.SpansMatchTheirTokens(template.Tokenizer);
        template.StopIds.Should().Equal(2);
    }
}
