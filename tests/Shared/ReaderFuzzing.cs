using FsCheck;
using FsCheck.Fluent;
using PromptLossWeight.Readers;

namespace PromptLossWeight.Tests.Shared;

/// <summary>
/// The harness of the reader property tests (shared by the test projects): a reader given any bytes either returns
/// records or throws a <see cref="DataFormatException"/> naming the input and the problem, never anything else.
/// </summary>
internal static class ReaderFuzzing
{
    /// <summary>A reader of an in-memory file named "input" under a bad-record policy.</summary>
    public delegate object Parser(byte[] bytes, BadRecordPolicy policy);

    /// <summary>The bytes of a file that <paramref name="write"/> writes to a temporary path.</summary>
    public static byte[] Bytes(Action<string> write)
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

    /// <summary>True when every parser returns records or throws a <see cref="DataFormatException"/> naming "input" and a problem.</summary>
    public static bool OnlyDataFormatErrors(IEnumerable<Parser> parsers, byte[] bytes, BadRecordPolicy policy)
    {
        foreach (Parser parse in parsers)
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
    public static Arbitrary<byte[]> DamagedFiles(params byte[][] validFiles) =>
        (from source in Gen.Elements(validFiles)
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
}
