using PromptLossWeight.Llama.Tokenizers;
using PromptLossWeight.Masking;

namespace PromptLossWeight.Llama.Chat;

/// <summary>
/// A model's chat format: turns a conversation into token ids with a role per token, so that loss masks and
/// prompt-loss weights are exact. Special tokens are inserted as ids; message text is encoded as plain text and
/// can never produce them. Assistant content and its end-of-turn token are completion; everything else (BOS,
/// headers, system and user messages, the template text around them) is prompt, unless the template's
/// <see cref="ChatTemplate.TemplateTokens"/> say otherwise. Each token also carries a data weight (<see cref="ChatSpan.Weight"/>):
/// its message's <see cref="ChatTurn.Weight"/>, times <see cref="ChatTurn.ThinkingWeight"/> in a thinking block.
/// </summary>
public interface IChatTemplate
{
    /// <summary>The template's name ("llama-2", "llama-3", "chatml").</summary>
    string Name { get; }

    /// <summary>The tokenizer the template encodes with.</summary>
    HfTokenizer Tokenizer { get; }

    /// <summary>The ids that end an assistant turn (generation stops at any of them).</summary>
    IReadOnlyList<long> StopIds { get; }

    /// <summary>Renders a whole conversation for training (it must contain an assistant turn).</summary>
    RenderedChat Render(IReadOnlyList<ChatTurn> conversation);

    /// <summary>Renders a prompt/completion pair as a user turn and an assistant turn, after an optional system message.</summary>
    RenderedChat RenderPromptCompletion(string prompt, string completion, string? system = null);

    /// <summary>Renders a conversation that ends with a user turn, up to where the assistant's reply begins (for generation).</summary>
    RenderedChat RenderGenerationPrompt(IReadOnlyList<ChatTurn> conversation);
}
