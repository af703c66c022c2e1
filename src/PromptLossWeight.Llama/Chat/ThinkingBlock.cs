namespace PromptLossWeight.Llama.Chat;

/// <summary>
/// The thinking part of an assistant message as Qwen3 and DeepSeek-R1 write it: the content starts (after white space)
/// with <c>&lt;think&gt;</c> and the thinking ends at the first <c>&lt;/think&gt;</c>; the answer follows.
/// </summary>
internal static class ThinkingBlock
{
    public const string Open = "<think>", Close = "</think>";

    /// <summary>Where the block starts (at <c>&lt;think&gt;</c>) and ends (after <c>&lt;/think&gt;</c>) in <paramref name="content"/>, or null when it has none.</summary>
    public static (int Start, int End)? Find(string content)
    {
        int start = content.IndexOf(Open, StringComparison.Ordinal);
        if (start < 0 || !string.IsNullOrWhiteSpace(content[..start])) return null;
        int close = content.IndexOf(Close, start + Open.Length, StringComparison.Ordinal);
        return close < 0 ? null : (start, close + Close.Length);
    }
}
