using PromptLossWeight.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PromptLossWeight.Tests.Support;

/// <summary>
/// A model small enough for unit tests but with the structure that matters: token embedding, one causal mixing
/// layer (each position sees the running mean of the embeddings up to itself) and a linear head without bias, so it
/// can also hand out hidden states and the head weight (for the chunked loss and chunked evaluation).
/// </summary>
internal sealed class TinyCausalModel : nn.Module, IHiddenStateLanguageModel
{
    private readonly Embedding embed;
    private readonly Linear mix;
    private readonly Linear head;

    public TinyCausalModel(int vocab = 16, int dim = 8, long seed = 1) : base("tiny")
    {
        embed = nn.Embedding(vocab, dim);
        mix = nn.Linear(2 * dim, dim);
        head = nn.Linear(dim, vocab, hasBias: false);
        RegisterComponents();
        using var generator = new Generator((ulong)seed);
        using var noGrad = no_grad();
        foreach (var (_, p) in named_parameters())
        {
            using Tensor init = randn(p.shape, generator: generator) * 0.5;
            p.copy_(init);
        }
        Vocab = vocab;
    }

    public int Vocab { get; }

    public nn.Module Module => this;

    public Tensor HiddenStates(Tensor inputIds, Tensor? attentionMask = null, Tensor? positionIds = null)
    {
        using var scope = NewDisposeScope();
        long n = inputIds.shape[1];
        Tensor x = embed.call(inputIds);                                                     // [B, N, D]
        Tensor counts = arange(1, n + 1, dtype: ScalarType.Float32, device: x.device).reshape(1, n, 1);
        Tensor running = x.cumsum(1) / counts;                                               // [B, N, D] causal mean
        return tanh(mix.call(cat([x, running], 2))).MoveToOuterDisposeScope();               // [B, N, D]
    }

    public Tensor OutputWeight => head.weight!;

    public Tensor Logits(Tensor inputIds, Tensor? attentionMask = null, Tensor? positionIds = null)
    {
        using var scope = NewDisposeScope();
        return head.call(HiddenStates(inputIds, attentionMask, positionIds)).MoveToOuterDisposeScope(); // [B, N, V]
    }

    /// <summary>Copies of all parameters by name (for comparisons).</summary>
    public Dictionary<string, float[]> Snapshot() =>
        named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().cpu().data<float>().ToArray());
}
