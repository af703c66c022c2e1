using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using PromptLossWeight.Readers;
using PromptLossWeight.Samples.Race.Data;

namespace Race.Tests.Data;

/// <summary>
/// Random and randomly damaged inputs: every reader either returns records or throws <see cref="DataFormatException"/>;
/// no other exception type escapes, whatever the bytes and whatever the bad-record policy.
/// </summary>
public sealed class ReaderPropertyTests
{
    private static readonly byte[] ValidJsonLines = Bytes(w => RaceJsonLines.Write(w, RaceFixtures.Examples));
    private static readonly byte[] ValidParquet = Bytes(w => RaceParquet.Write(w, RaceFixtures.Examples));
    private static readonly byte[] ValidRelease = System.Text.Encoding.UTF8.GetBytes(
        RaceFixtures.ReleaseJson("high1.txt", "Tom lives in Paris.", [("Where?", ["a", "b", "c", "d"], "B"), ("Who?", ["a", "b", "c", "d"], "A")]));
    private static readonly byte[] ValidChat = System.Text.Encoding.UTF8.GetBytes(
        "{\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":\"Hi\"},{\"role\":\"assistant\",\"content\":\"Hello\"}]}\n" +
        "{\"messages\":[{\"role\":\"user\",\"content\":\"2+2?\"},{\"role\":\"assistant\",\"content\":\"4\"}]}\n");

    private static byte[] Bytes(Action<string> write)
    {
        string path = Path.GetTempFileName();
        try
        {
            write(path);
            return File.ReadAllBytes(path);
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static readonly Func<byte[], BadRecordPolicy, object>[] Parsers =
    [
        (b, p) => PromptCompletionJsonLines.Read(new MemoryStream(b), "input", options: new DataReadOptions { BadRecords = p }),
        (b, p) => PromptCompletionParquet.Read(new MemoryStream(b), "input", options: new DataReadOptions { BadRecords = p }),
        (b, p) => RaceJsonLines.Read(new MemoryStream(b), "input", new DataReadOptions { BadRecords = p }),
        (b, p) => RaceParquet.Read(new MemoryStream(b), "input", new DataReadOptions { BadRecords = p }),
        (b, p) => RaceOriginalRelease.ReadFile(new MemoryStream(b), "input", new DataReadOptions { BadRecords = p }),
        (b, p) => ChatJsonLines.Read(new MemoryStream(b), "input", options: new DataReadOptions { BadRecords = p }),
    ];

    private static bool OnlyDataFormatErrors(byte[] bytes, BadRecordPolicy policy)
    {
        foreach (var parse in Parsers)
        {
            try
            {
                parse(bytes, policy);
            }
            catch (DataFormatException e)
            {
                if (e.FileName != "input" || string.IsNullOrEmpty(e.Problem)) return false;
            }
        }
        return true;
    }

    /// <summary>A valid file of one of the formats, truncated at a random point and with random bytes overwritten.</summary>
    private static Arbitrary<byte[]> DamagedFiles() =>
        (from source in Gen.Elements(ValidJsonLines, ValidParquet, ValidRelease, ValidChat)
         from cut in Gen.Choose(0, 100)
         from flips in Gen.ListOf(Gen.Zip(Gen.Choose(0, 1 << 20), Gen.Choose(0, 255)))
         select Damage(source, cut, flips)).ToArbitrary();

    private static byte[] Damage(byte[] source, int cutPercent, IEnumerable<(int Position, int Value)> flips)
    {
        byte[] bytes = cutPercent >= 50 ? (byte[])source.Clone() : source[..(source.Length * cutPercent / 50)];
        foreach ((int position, int value) in flips)
            if (bytes.Length > 0) bytes[position % bytes.Length] = (byte)value;
        return bytes;
    }

    [Property(MaxTest = 150)]
    public bool Random_bytes_give_records_or_a_data_format_error(byte[] bytes, bool skip) =>
        OnlyDataFormatErrors(bytes, skip ? BadRecordPolicy.Skip : BadRecordPolicy.Throw);

    [Property(MaxTest = 300)]
    public Property Damaged_files_give_records_or_a_data_format_error() =>
        Prop.ForAll(DamagedFiles(), ArbMap.Default.ArbFor<bool>(), (bytes, skip) => OnlyDataFormatErrors(bytes, skip ? BadRecordPolicy.Skip : BadRecordPolicy.Throw));

    [Property(MaxTest = 150)]
    public bool Random_json_lines_records_give_records_or_a_data_format_error(string[] article, string[] options, string answer) =>
        OnlyDataFormatErrors(System.Text.Encoding.UTF8.GetBytes(string.Join('\n', article.Select((a, i) =>
            System.Text.Json.JsonSerializer.Serialize(new { example_id = "x", article = a, question = a, options = options.Take(i), answer })))),
            BadRecordPolicy.Skip);

    /// <summary>Mostly known role names (in any case), sometimes the random string itself.</summary>
    private static string? ChatRole(string? random) => ((random?.Length ?? 0) % 5) switch
    {
        0 => "user",
        1 => "System",
        2 => "ASSISTANT",
        3 => "assistant",
        _ => random,
    };

    [Property(MaxTest = 150)]
    public bool Random_chat_records_give_records_or_a_data_format_error(string?[] roles, string?[] contents, bool skip) =>
        OnlyDataFormatErrors(System.Text.Encoding.UTF8.GetBytes(string.Join('\n', roles.Select((r, i) =>
            System.Text.Json.JsonSerializer.Serialize(new { messages = contents.Take(i + 1).Select((c, j) => new { role = ChatRole(j % 2 == 0 ? r : c), content = c }) })))),
            skip ? BadRecordPolicy.Skip : BadRecordPolicy.Throw);
}
