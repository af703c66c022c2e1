using PromptLossWeight.Batching;
using PromptLossWeight.Masking;
using static TorchSharp.torch;

namespace PromptLossWeight.Llama.Tests.Support;

/// <summary>A tiny instruction data set: the completion copies the prompt's tokens in reverse, then EOS.</summary>
internal static class TinyData
{
    public static Batch ReverseBatch(int examples = 8, long seed = 11) => PaddingCollator.Pad(ReverseExamples(examples, seed), padId: 0, device: CPU);

    public static IReadOnlyList<MaskedExample> ReverseExamples(int examples = 8, long seed = 11)
    {
        var random = new Random((int)seed);
        var list = new List<MaskedExample>();
        for (int e = 0; e < examples; e++)
        {
            long[] prompt = Enumerable.Range(0, 3 + e % 3).Select(_ => (long)random.Next(3, 64)).ToArray();
            long[] ids = [1, .. prompt, .. prompt.Reverse(), 2];
            TokenRole[] roles = [.. Enumerable.Repeat(TokenRole.User, 1 + prompt.Length), .. Enumerable.Repeat(TokenRole.Assistant, prompt.Length + 1)];
            list.Add(new MaskedExample(ids, roles));
        }
        return list;
    }
}
