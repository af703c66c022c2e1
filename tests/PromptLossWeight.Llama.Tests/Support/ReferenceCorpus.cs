using System.Text;

namespace PromptLossWeight.Llama.Tests.Support;

/// <summary>
/// A deterministic corpus of strings for the exactness tests: fixed hard cases (runs of one character, spaces and
/// newlines at the edges, prompt markup) and random strings built from fragments of many scripts, whitespace runs,
/// digits, emoji, code and byte-fallback characters.
/// </summary>
internal static class ReferenceCorpus
{
    private static readonly string[] Fixed =
    [
        "----------------", "!!!!!!!!", "aaaaaaa", new string('x', 50), "=================", "...", "??", "\n\n\n\n", "        ",
        " leading", "trailing ", "  two leading", "two trailing  ", " ", "\n", "\t", "\r\n", " \n ", "a  b   c    d",
        "### Instruction:\nWrite a poem.\n\n### Response:\n", "### Input:\n  indented\n", "<<SYS>>\nYou are helpful.\n<</SYS>>\n\n",
        "[INST] hi [/INST]", "Hello, world!", "don't won't I'LL you've SHE'S", "1234567890", "3.14159", "12,345,678.90",
        "😀😃😄", "👩‍👩‍👧‍👦", "🇺🇸🇫🇷", "👍🏽", "𝐀𝐁𝐂 𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "𠀀𠀁 𪚥", "日本語のテキスト", "中文文本，标点。", "한국어 텍스트",
        "Привет, мир!", "Ελληνικά", "العربية", "עברית", "हिन्दी", "ภาษาไทย", "ção é à", "e\u0301 n\u0303", "ﬁ ﬀ ℌ Ⅻ ①",
        "def f(x):\n    return x ** 2\n", "for (int i = 0; i < n; i++) { a[i] += 1; }", "x = {\"key\": [1, 2, 3]}",
        "<div class=\"a\">b</div>", "SELECT * FROM t WHERE a >= 10;", "$ ls -la | grep '.cs'", "a+b=c", "C++ & C#",
    ];

    private static readonly string[][] Fragments =
    [
        ["the", "The", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "Hello", "world", "answer", "question", "passage", "instruction", "a", "I", "is", "naïve", "café", "résumé", "Straße"],
        [" ", "  ", "   ", "    ", "\t", "\n", "\n\n", "\r\n", " \n", "\n ", "\t\t", "        ", "\u00A0", "\u3000", "\u2009"],
        ["0", "7", "42", "123", "2024", "1000000", "3.5", "0.001", "-17", "1e9", "99%", "#1", "١٢٣", "٣", "४२", "Ⅳ", "½"],
        ["😀", "🎉", "❤️", "👍🏽", "🇯🇵", "👨‍💻", "🤖", "✓", "★", "☃", "⚡", "🙂🙃"],
        ["def", "return", "class", "{", "}", "(", ")", "[", "]", ";", "=>", "==", "!=", "+=", "->", "::", "//", "/*", "*/", "#", "@", "$", "%", "^", "&", "*", "_", "__init__", "self.x", "i++", "<", ">", "|", "\\", "`", "~", "'", "\"", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'LL"],
        ["日本", "語", "の", "テスト", "中文", "汉字", "한국어", "Привет", "мир", "Ελληνικά", "שלום", "مرحبا", "नमस्ते", "สวัสดี", "ĳ", "ǅ", "𝐀", "𝔘𝔫", "𠀀", "𐍈", "ᚠᚢ"],
        ["-", "--", "---", "----", "!!!", "...", "***", "___", "===", "~~~", "###", "####", "::", ",", ".", "!", "?", ":", ";"],
        ["\u0301", "\u200d", "\u00ad", "\u2028", "\u0007", "\u001b", "\u007f", "\ue000", "\uffff"],
    ];

    /// <summary><paramref name="count"/> strings: the fixed cases first, then random ones (the same for a seed).</summary>
    public static List<string> Generate(int count, int seed = 13)
    {
        var random = new Random(seed);
        var corpus = new List<string>(Fixed);
        while (corpus.Count < count)
        {
            var text = new StringBuilder();
            int parts = random.Next(1, 14);
            for (int i = 0; i < parts; i++)
            {
                int kind = random.Next(12);
                if (kind < Fragments.Length)
                {
                    var group = Fragments[kind];
                    text.Append(group[random.Next(group.Length)]);
                }
                else if (kind == 8)
                {
                    text.Append(new string("-!ax= .\n*#"[random.Next(10)], random.Next(2, 40)));
                }
                else if (kind == 9)
                {
                    text.Append(random.Next(0, 2) == 0 ? " " : "").Append(random.NextInt64(0, 100_000_000_000));
                }
                else
                {
                    text.Append(Fragments[0][random.Next(Fragments[0].Length)]).Append(' ');
                }
            }
            corpus.Add(text.ToString());
        }
        return corpus;
    }
}
