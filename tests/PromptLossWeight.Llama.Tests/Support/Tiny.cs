using PromptLossWeight.Llama.Model;
using PromptLossWeight.Llama.Runtime;
using static TorchSharp.torch;

namespace PromptLossWeight.Llama.Tests.Support;

/// <summary>Tiny random Llama models and helpers shared by the tests.</summary>
internal static class Tiny
{
    public static LlamaConfig Config(int kvHeads = 2, bool tied = false, Llama3RopeScaling? scaling = null) => new()
    {
        HiddenSize = 32,
        IntermediateSize = 64,
        NumHiddenLayers = 2,
        NumAttentionHeads = 4,
        NumKeyValueHeads = kvHeads,
        RmsNormEps = 1e-5,
        RopeTheta = 10000,
        RopeScaling = scaling,
        VocabSize = 64,
        MaxPositionEmbeddings = 128,
        TieWordEmbeddings = tied,
        BosTokenId = 1,
        EosTokenIds = [2],
        TorchDtype = "float32",
    };

    /// <summary>A random model whose norms are random too, so that every weight matters.</summary>
    public static LlamaForCausalLM Model(LlamaConfig? config = null, long seed = 7, ScalarType dtype = ScalarType.Float32)
    {
        TorchRuntime.EnsureLoaded();
        var model = new LlamaForCausalLM(config ?? Config(), CPU, dtype).InitializeWeights(seed, std: 0.2);
        using var noGrad = no_grad();
        var generator = new Generator((ulong)seed + 1);
        foreach (var (name, p) in model.named_parameters())
            if (name.EndsWith("norm.weight", StringComparison.Ordinal))
            {
                using Tensor jitter = rand(p.shape, generator: generator) * 0.5 + 0.75;
                p.copy_(jitter);
            }
        model.eval();
        return model;
    }

    public static Tensor Ids(params long[][] rows)
    {
        int n = rows[0].Length;
        return tensor(rows.SelectMany(r => r).ToArray(), [rows.Length, n]);
    }

    public static Tensor RandomIds(int batch, int length, long seed, int vocab = 64)
    {
        var generator = new Generator((ulong)seed);
        return randint(3, vocab, [batch, length], dtype: ScalarType.Int64, generator: generator);
    }

    public static double MaxAbsDiff(Tensor a, Tensor b)
    {
        using var diff = (a.to(ScalarType.Float32) - b.to(ScalarType.Float32)).abs().max();
        return diff.item<float>();
    }

    public static string TempDir()
    {
        string dir = Path.Combine(Path.GetTempPath(), "plw-llama-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }
}
