using System.Text.Json;
using PromptLossWeight.Masking;

namespace PromptLossWeight.Readers;

/// <summary>
/// Reads conversations in the common messages format from JSON Lines: one JSON object per line with an array of
/// messages, each <c>{"role": "system"|"user"|"assistant", "content": "..."}</c>. Each record becomes the list of
/// <see cref="ChatTurn"/>s that <see cref="MaskBuilder.BuildChat"/> takes.
/// </summary>
/// <remarks>
/// Weights (optional): a message may carry <c>"weight"</c> (multiplies the loss weight of that message's tokens,
/// <see cref="ChatTurn.Weight"/>) and <c>"thinking_weight"</c> (a factor for its <c>&lt;think&gt;…&lt;/think&gt;</c> span,
/// <see cref="ChatTurn.ThinkingWeight"/>); the record may carry <c>"weight"</c>, which multiplies every message's weight
/// (so each turn's <see cref="ChatTurn.Weight"/> is message × example). Weights must be JSON numbers, finite and ≥ 0:
/// negative weights are rejected as a bad record naming the line, the message and the field. A conversation whose
/// assistant messages all weigh 0 has nothing to train on: it is a counted skip with a warning
/// (<see cref="NothingToTrainException"/>), whatever the policy.
/// Role names are case-insensitive; blank lines and extra fields (on the record and on each message) are ignored.
/// A conversation needs at least one assistant turn but may end with any role (the trainer only needs some
/// completion tokens). Content may be empty or white space only in system messages. A bad record (invalid JSON,
/// a truncated line, a missing or non-array messages field, a message that is not an object, a missing or
/// non-string role or content, an unknown role, empty content, no messages, no assistant turn) follows the
/// <see cref="BadRecordPolicy"/>. Invalid UTF-8 always throws, naming the line.
/// </remarks>
public static class ChatJsonLines
{
    /// <summary>The default name of the messages array field.</summary>
    public const string DefaultMessagesField = "messages";

    /// <summary>Reads the file at <paramref name="path"/>; <paramref name="messagesField"/> names the messages array.</summary>
    public static DataReadResult<IReadOnlyList<ChatTurn>> Read(string path, string messagesField = DefaultMessagesField, DataReadOptions? options = null)
    {
        ValidateField(messagesField);
        using FileStream stream = StrictText.Open(path);
        return Read(stream, path, messagesField, options);
    }

    /// <summary>Reads JSON Lines from <paramref name="stream"/>; <paramref name="source"/> names it in errors.</summary>
    public static DataReadResult<IReadOnlyList<ChatTurn>> Read(Stream stream, string source, string messagesField = DefaultMessagesField, DataReadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ValidateField(messagesField);
        return RecordReader.JsonLines<IReadOnlyList<ChatTurn>>(stream, source, options, (record, _) => [ParseConversation(record, messagesField)]);
    }

    private static void ValidateField(string messagesField)
    {
        if (string.IsNullOrWhiteSpace(messagesField))
            throw new ArgumentException("The messages field name is empty.", nameof(messagesField));
    }

    private static IReadOnlyList<ChatTurn> ParseConversation(JsonElement record, string messagesField)
    {
        if (!record.TryGetProperty(messagesField, out JsonElement messages))
            throw new BadRecordException($"missing field '{messagesField}'");
        if (messages.ValueKind != JsonValueKind.Array)
            throw new BadRecordException($"field '{messagesField}' must be an array but is {messages.ValueKind}");

        double exampleWeight = StrictText.OptionalWeight(record, "weight");
        var turns = new List<ChatTurn>();
        int index = 0;
        foreach (JsonElement message in messages.EnumerateArray())
        {
            string where = $"message {index + 1}";
            if (message.ValueKind != JsonValueKind.Object)
                throw new BadRecordException($"{where} must be an object but is {message.ValueKind}");
            TokenRole role = ParseRole(message, where);
            double weight = StrictText.OptionalWeight(message, "weight", where);
            double? thinking = message.TryGetProperty("thinking_weight", out _) ? StrictText.OptionalWeight(message, "thinking_weight", where) : null;
            turns.Add(new ChatTurn(role, ParseContent(message, role, where)) { Weight = weight * exampleWeight, ThinkingWeight = thinking });
            index++;
        }
        if (turns.Count == 0)
            throw new BadRecordException($"field '{messagesField}' is empty: the conversation has no messages");
        if (!turns.Any(t => t.Role == TokenRole.Assistant))
            throw new BadRecordException("the conversation has no assistant message (nothing to train on)");
        if (!turns.Any(t => t.Role == TokenRole.Assistant && t.Weight > 0))
            throw new NothingToTrainException(exampleWeight == 0
                ? "the example's weight is 0 (nothing to train on)"
                : "every assistant message has weight 0 (nothing to train on)");
        return turns;
    }

    private static TokenRole ParseRole(JsonElement message, string where)
    {
        if (!message.TryGetProperty("role", out JsonElement value))
            throw new BadRecordException($"{where} is missing field 'role'");
        if (value.ValueKind != JsonValueKind.String)
            throw new BadRecordException($"{where}: field 'role' must be a string but is {value.ValueKind}");
        string role = value.GetString()!;
        return role.ToLowerInvariant() switch
        {
            "system" => TokenRole.System,
            "user" => TokenRole.User,
            "assistant" => TokenRole.Assistant,
            _ => throw new BadRecordException($"{where}: unknown role '{role}' (expected system, user or assistant)"),
        };
    }

    private static string ParseContent(JsonElement message, TokenRole role, string where)
    {
        if (!message.TryGetProperty("content", out JsonElement value))
            throw new BadRecordException($"{where} is missing field 'content'");
        if (value.ValueKind != JsonValueKind.String)
            throw new BadRecordException($"{where}: field 'content' must be a string but is {value.ValueKind}");
        string content = value.GetString()!;
        if (role != TokenRole.System && string.IsNullOrWhiteSpace(content))
            throw new BadRecordException($"{where}: the {role.ToString().ToLowerInvariant()} content is empty");
        return content;
    }
}
