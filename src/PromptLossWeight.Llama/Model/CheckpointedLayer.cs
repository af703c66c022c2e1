using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PromptLossWeight.Llama.Model;

/// <summary>
/// Activation (gradient) checkpointing of one decoder layer as a custom autograd function: the forward pass runs the
/// layer without recording a graph, so none of its activations ([B, N, I] MLP hidden states, attention outputs, …) stay
/// alive until backward; only the layer's input x [B, N, D] is kept. Backward runs the layer again with gradients on,
/// from that input, and back-propagates the incoming gradient through the recomputed graph: the layer's parameters
/// receive their gradients there, and the gradient of x is handed on to the layer below.
/// </summary>
/// <remarks>
/// <para>Randomness: when the layer holds an active dropout (LoRA dropout while training), the recomputation must draw
/// the same masks. The CPU generator's state is saved before the forward pass and restored around the recomputation (then
/// put back), so the CPU stream is exactly that of an unchecheckpointed run. TorchSharp exposes no way to read the CUDA
/// generator's state, so on CUDA the layer reseeds it from a number drawn from the CPU generator, before the forward pass
/// and again before the recomputation: the masks match, and a run stays reproducible from its seed.</para>
/// <para>Arguments of <c>apply</c>: x [B, N, D] (the only tensor argument), then the <see cref="Call"/> with the rest.</para>
/// </remarks>
internal sealed class CheckpointedLayer : autograd.SingleTensorFunction<CheckpointedLayer>
{
    private const string StateKey = "call";

    /// <summary>One checkpointed call: the layer and what its forward needs besides x, kept alive until backward.</summary>
    internal sealed class Call(DecoderLayer layer, Tensor cos, Tensor sin, DocumentSpans? spans, Tensor? mask)
    {
        public DecoderLayer Layer { get; } = layer;
        public Tensor Cos { get; } = cos;
        public Tensor Sin { get; } = sin;
        public DocumentSpans? Spans { get; } = spans;
        public Tensor? Mask { get; } = mask;
        public Tensor? CpuRngState { get; set; }
        public long? CudaSeed { get; set; }

        public void Release()
        {
            Cos.Dispose();
            Sin.Dispose();
            Mask?.Dispose();
            CpuRngState?.Dispose();
            CpuRngState = null;
        }
    }

    /// <summary>
    /// x [B, N, D] → layer(x) [B, N, D], checkpointed. Call only with gradients enabled and without a KV cache.
    /// </summary>
    public static Tensor Run(DecoderLayer layer, Tensor x, Tensor cos, Tensor sin, DocumentSpans? spans, Tensor? mask)
    {
        // The function must take part in autograd even when x needs no gradient (the layers of a frozen model with LoRA
        // get an input that needs none): a leaf that asks for one makes the node executable; its gradient is dropped.
        Tensor input = x.requires_grad ? x : x.detach().requires_grad_();
        // Handles of our own for what the caller's dispose scope would free before backward runs.
        var call = new Call(layer, cos.detach().DetachFromDisposeScope(), sin.detach().DetachFromDisposeScope(), spans,
            mask?.detach().DetachFromDisposeScope());
        return apply(input, call);
    }

    /// <inheritdoc />
    public override string Name => "CheckpointedDecoderLayer";

    /// <inheritdoc />
    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var x = (Tensor)vars[0];
        var call = (Call)vars[1];
        if (UsesRandomness(call.Layer))
        {
            call.CpuRngState = random.get_rng_state().DetachFromDisposeScope();
            if (x.device.type == DeviceType.CUDA)
            {
                using Tensor draw = randint(0, int.MaxValue, [1], dtype: ScalarType.Int64);
                call.CudaSeed = draw.item<long>();
                cuda.manual_seed(call.CudaSeed.Value);
            }
        }
        Tensor y = call.Layer.Forward(x, call.Cos, call.Sin, call.Spans, call.Mask, cache: null); // [B, N, D], no graph
        ctx.save_for_backward([x]);
        ctx.save_data(StateKey, call);
        return y;
    }

    /// <inheritdoc />
    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
    {
        var call = (Call)ctx.get_data(StateKey);
        Tensor x = ctx.get_saved_variables()[0];
        Tensor input = x.detach().requires_grad_();
        Tensor? resumeState = null;
        try
        {
            if (call.CpuRngState is not null)
            {
                resumeState = random.get_rng_state();
                random.set_rng_state(call.CpuRngState);
                if (call.CudaSeed is long seed) cuda.manual_seed(seed);
            }
            using (var scope = NewDisposeScope())
            using (enable_grad())
            {
                Tensor y = call.Layer.Forward(input, call.Cos, call.Sin, call.Spans, call.Mask, cache: null); // [B, N, D], with graph
                y.backward([gradOutput]);                  // parameters accumulate their gradients here
            }
        }
        finally
        {
            if (resumeState is not null)
            {
                random.set_rng_state(resumeState);
                resumeState.Dispose();
            }
            call.Release();
        }
        Tensor gradInput = input.grad ?? zeros_like(x);
        return [gradInput, null!];
    }

    private static bool UsesRandomness(DecoderLayer layer) =>
        layer.training && layer.modules().Any(m => m is Dropout dropout && dropout.training);
}
