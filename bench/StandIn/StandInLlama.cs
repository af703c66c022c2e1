using PromptLossWeight.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PromptLossWeight.Bench.StandIn;

/// <summary>
/// A small Llama-shaped model (RMSNorm, RoPE, SwiGLU, untied head) that stands in for the library's Llama until it is
/// on main. It honours the attention-mask convention (document ids) and position ids, and exposes hidden states.
/// </summary>
internal sealed class StandInLlama : nn.Module, IHiddenStateLanguageModel
{
    private readonly Embedding embed;
    private readonly ModuleList<Block> blocks;
    private readonly RmsNorm norm;
    private readonly Linear head;
    private readonly Rope rope;

    public StandInLlama(StandInConfig config) : base(nameof(StandInLlama))
    {
        Config = config;
        rope = new Rope(config.HeadDim, config.MaxPositions, config.RopeTheta);
        embed = nn.Embedding(config.Vocabulary, config.Dim);
        blocks = nn.ModuleList(Enumerable.Range(0, config.Layers).Select(_ => new Block(config)).ToArray());
        norm = new RmsNorm(config.Dim, config.NormEps);
        head = nn.Linear(config.Dim, config.Vocabulary, hasBias: false);
        RegisterComponents();
    }

    public StandInConfig Config { get; }

    public nn.Module Module => this;

    public Tensor OutputWeight => head.weight!;

    public Tensor HiddenStates(Tensor inputIds, Tensor? attentionMask = null, Tensor? positionIds = null)
    {
        using var scope = NewDisposeScope();
        long b = inputIds.shape[0], n = inputIds.shape[1];
        attentionMask ??= ones_like(inputIds);
        positionIds ??= arange(n, dtype: ScalarType.Int64).expand(b, n);
        Documents documents = Documents.FromMask(attentionMask);
        var angles = rope.Angles(positionIds);                                                   // [B, N, 1, hd] each
        Tensor x = embed.call(inputIds);                                                          // [B, N, D]
        foreach (Block block in blocks)
        {
            block.Attention.Prepare(angles, documents);
            x = block.call(x);
        }
        return norm.call(x).MoveToOuterDisposeScope();
    }

    public Tensor Logits(Tensor inputIds, Tensor? attentionMask = null, Tensor? positionIds = null)
    {
        using var scope = NewDisposeScope();
        return head.call(HiddenStates(inputIds, attentionMask, positionIds)).MoveToOuterDisposeScope();
    }
}
