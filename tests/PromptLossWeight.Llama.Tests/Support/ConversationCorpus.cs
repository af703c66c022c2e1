using PromptLossWeight.Masking;

namespace PromptLossWeight.Llama.Tests.Support;

/// <summary>
/// Deterministic conversations for the chat-template tests: with and without a system turn, one to four exchanges,
/// content with whitespace around and inside it (spaces, newlines, tabs), empty-looking and multi-line content, and
/// unicode; each conversation is rendered for training and (ending with a user turn) with the generation prompt.
/// </summary>
internal static class ConversationCorpus
{
    private static readonly string[] Contents =
    [
        "Hello!", "  padded question  ", " B \n", "\n\nleading newlines", "trailing newlines\n\n", "\tTabbed\t", "multi\nline\ncontent",
        "What is 2 + 2?", "The answer is 4.", "### Instruction:\nSummarize.\n\n### Response:\n", "日本語の質問", "😀 emoji", "a", "x  y  z",
        "Use <b>bold</b> & 'quotes' \"double\"", "{\"json\": [1, 2]}", "  ", "line one\n  indented line two\n", "Ünïcödé", "--- --- ---",
    ];

    /// <summary>Alternating conversations: an optional system turn, then user/assistant exchanges (ending with an assistant turn).</summary>
    public static List<IReadOnlyList<ChatTurn>> Generate(int count, int seed = 5)
    {
        var random = new Random(seed);
        var conversations = new List<IReadOnlyList<ChatTurn>>();
        for (int c = 0; c < count; c++)
        {
            var turns = new List<ChatTurn>();
            if (c % 2 == 0)
                turns.Add(new ChatTurn(TokenRole.System, Pick(random)));
            int exchanges = 1 + random.Next(4);
            for (int e = 0; e < exchanges; e++)
            {
                turns.Add(new ChatTurn(TokenRole.User, Pick(random)));
                turns.Add(new ChatTurn(TokenRole.Assistant, Pick(random)));
            }
            conversations.Add(turns);
        }
        return conversations;
    }

    /// <summary>Each conversation for training, and without its last assistant turn with the generation prompt.</summary>
    public static List<(IReadOnlyList<ChatTurn> Messages, bool AddGenerationPrompt)> Cases(int count, int seed = 5) =>
        Generate(count, seed).SelectMany(turns => new[] { (turns, false), ((IReadOnlyList<ChatTurn>)turns.Take(turns.Count - 1).ToList(), true) }).ToList();

    private static string Pick(Random random) =>
        random.Next(3) == 0 ? Contents[random.Next(Contents.Length)] + " " + Contents[random.Next(Contents.Length)] : Contents[random.Next(Contents.Length)];
}
