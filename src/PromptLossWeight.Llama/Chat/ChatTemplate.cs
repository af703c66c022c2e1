using PromptLossWeight.Llama.Tokenizers;
using PromptLossWeight.Masking;

namespace PromptLossWeight.Llama.Chat;

/// <summary>
/// Common work of the chat templates: conversation checks, prompt/completion pairs and generation prompts.
/// A template only says how turns are laid out (<see cref="Layout"/>).
/// </summary>
public abstract class ChatTemplate : IChatTemplate
{
    /// <summary>Creates a template over a tokenizer.</summary>
    protected ChatTemplate(HfTokenizer tokenizer)
    {
        Tokenizer = tokenizer ?? throw new ArgumentNullException(nameof(tokenizer));
    }

    /// <inheritdoc/>
    public abstract string Name { get; }

    /// <inheritdoc/>
    public HfTokenizer Tokenizer { get; }

    /// <inheritdoc/>
    public abstract IReadOnlyList<long> StopIds { get; }

    /// <summary>
    /// What the template-inserted tokens of each turn carry in the loss (role headers, the assistant header that a
    /// generation prompt adds, the end-of-turn token): <see cref="Chat.TemplateTokens.Default"/> unless set. Set it before
    /// rendering, in an object initializer or on the template <see cref="FromPretrained(string)"/> returns.
    /// </summary>
    public TemplateTokens TemplateTokens
    {
        get => _templateTokens;
        set => _templateTokens = (value ?? throw new ArgumentNullException(nameof(TemplateTokens))).Validate();
    }

    private TemplateTokens _templateTokens = TemplateTokens.Default;

    /// <summary>The names of the templates <see cref="Create"/> knows.</summary>
    public static IReadOnlyList<string> Names { get; } = ["llama-2", "llama-3", "chatml"];

    /// <summary>Creates a template by name: "llama-2", "llama-3" or "chatml" (case-insensitive).</summary>
    public static ChatTemplate Create(string name, HfTokenizer tokenizer) => name?.ToLowerInvariant() switch
    {
        "llama-2" or "llama2" => new Llama2ChatTemplate(tokenizer),
        "llama-3" or "llama3" => new Llama3ChatTemplate(tokenizer),
        "chatml" => new ChatMLTemplate(tokenizer),
        _ => throw new ArgumentException($"Unknown chat template '{name}'; known: {string.Join(", ", Names)}.", nameof(name)),
    };

    /// <summary>
    /// The model's own chat template from a Hugging Face model folder: <c>chat_template.jinja</c> if present, else the
    /// <c>chat_template</c> of <c>tokenizer_config.json</c>, interpreted by the library's Jinja subset (see
    /// <see cref="Jinja.JinjaTemplate"/>) over the folder's tokenizer (<see cref="TokenizerLoader.Load"/>). The
    /// config's <c>*_token</c> fields (bos_token, eos_token, ...) are template variables. Renderings equal Jinja2's
    /// with Hugging Face's settings, and still come as per-message spans for the masks.
    /// Throws <see cref="InvalidDataException"/> naming the file when there is no template or it cannot be parsed
    /// (an unsupported construct is named).
    /// </summary>
    public static JinjaChatTemplate FromPretrained(string modelFolder) =>
        FromPretrained(modelFolder, TokenizerLoader.Load(modelFolder).Tokenizer);

    /// <summary>The model folder's own chat template (see <see cref="FromPretrained(string)"/>) over a tokenizer you loaded.</summary>
    public static JinjaChatTemplate FromPretrained(string modelFolder, HfTokenizer tokenizer)
    {
        ArgumentException.ThrowIfNullOrEmpty(modelFolder);
        ArgumentNullException.ThrowIfNull(tokenizer);
        string configPath = Path.Combine(modelFolder, "tokenizer_config.json");
        string jinjaPath = Path.Combine(modelFolder, "chat_template.jinja");
        var config = File.Exists(configPath) ? TokenizerConfig.Read(configPath) : null;
        var (template, source) = File.Exists(jinjaPath) ? (File.ReadAllText(jinjaPath), jinjaPath) : (config?.ChatTemplate, configPath);
        if (template is null)
            throw new InvalidDataException($"{modelFolder}: no chat template (neither chat_template.jinja nor a chat_template in tokenizer_config.json).");
        var variables = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var (name, value) in config?.TokenFields ?? new Dictionary<string, string>())
            variables[name] = value;
        try
        {
            return new JinjaChatTemplate(tokenizer, template, variables, $"chat_template of {source}");
        }
        catch (Jinja.JinjaException e)
        {
            throw new InvalidDataException($"{source}: chat_template {e.Message}", e);
        }
    }

    /// <inheritdoc/>
    public RenderedChat Render(IReadOnlyList<ChatTurn> conversation)
    {
        Check(conversation);
        if (!conversation.Any(t => t.Role == TokenRole.Assistant))
            throw new ArgumentException("A training conversation needs at least one assistant turn (the completion).", nameof(conversation));
        var builder = new SpanBuilder(Tokenizer, conversation);
        Layout(conversation, builder, addGenerationPrompt: false);
        return builder.Build();
    }

    /// <inheritdoc/>
    public RenderedChat RenderPromptCompletion(string prompt, string completion, string? system = null)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(completion);
        var turns = new List<ChatTurn>();
        if (system is not null)
            turns.Add(new ChatTurn(TokenRole.System, system));
        turns.Add(new ChatTurn(TokenRole.User, prompt));
        turns.Add(new ChatTurn(TokenRole.Assistant, completion));
        return Render(turns);
    }

    /// <inheritdoc/>
    public RenderedChat RenderGenerationPrompt(IReadOnlyList<ChatTurn> conversation)
    {
        Check(conversation);
        if (conversation[^1].Role == TokenRole.Assistant)
            throw new ArgumentException("A generation prompt must end with a user (or system) turn, not an assistant turn.", nameof(conversation));
        var builder = new SpanBuilder(Tokenizer, conversation);
        Layout(conversation, builder, addGenerationPrompt: true);
        return builder.Build();
    }

    /// <summary>
    /// Emits the spans of a checked conversation; with <paramref name="addGenerationPrompt"/> it ends where the
    /// assistant's reply would begin.
    /// </summary>
    private protected abstract void Layout(IReadOnlyList<ChatTurn> conversation, SpanBuilder builder, bool addGenerationPrompt);

    /// <summary>Template-specific rules on the order of turns; throws <see cref="ArgumentException"/> naming the turn.</summary>
    protected virtual void CheckOrder(IReadOnlyList<ChatTurn> conversation)
    {
    }

    /// <summary>The role that a turn's header tokens carry: an assistant header is prompt, so it counts as user.</summary>
    protected static TokenRole HeaderRole(TokenRole turnRole) => turnRole == TokenRole.Assistant ? TokenRole.User : turnRole;

    /// <summary>The lower-case role name used in headers ("system", "user", "assistant").</summary>
    protected static string RoleName(TokenRole role) => role switch
    {
        TokenRole.System => "system",
        TokenRole.User => "user",
        TokenRole.Assistant => "assistant",
        _ => throw new ArgumentOutOfRangeException(nameof(role), role, "Unknown role."),
    };

    private void Check(IReadOnlyList<ChatTurn> conversation)
    {
        ArgumentNullException.ThrowIfNull(conversation);
        if (conversation.Count == 0)
            throw new ArgumentException("The conversation has no turns.", nameof(conversation));
        for (int i = 0; i < conversation.Count; i++)
        {
            if (conversation[i] is null)
                throw new ArgumentException($"Turn {i} is null.", nameof(conversation));
            if (conversation[i].Content is null)
                throw new ArgumentException($"Turn {i} ({conversation[i].Role}) has no content.", nameof(conversation));
            if (!Enum.IsDefined(conversation[i].Role))
                throw new ArgumentException($"Turn {i} has unknown role {conversation[i].Role}.", nameof(conversation));
            if (!RoleWeights.IsValid(conversation[i].Weight))
                throw new ArgumentException($"Turn {i} has weight {conversation[i].Weight}; a weight must be a finite number >= 0.", nameof(conversation));
            if (conversation[i].ThinkingWeight is double thinking && !RoleWeights.IsValid(thinking))
                throw new ArgumentException($"Turn {i} has thinking weight {thinking}; a weight must be a finite number >= 0.", nameof(conversation));
        }
        CheckOrder(conversation);
    }
}
