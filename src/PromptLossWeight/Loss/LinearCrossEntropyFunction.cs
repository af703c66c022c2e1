using TorchSharp;
using static TorchSharp.torch;

namespace PromptLossWeight.Loss;

/// <summary>
/// The custom autograd function behind <see cref="ChunkedWeightedCrossEntropy"/>: Σᵢ sᵢ · CE(hᵢ · Wᵀ, tᵢ) over
/// selected hidden rows h [M, D], the LM-head weight W [V, D], targets t [M] and scaled weights s [M]
/// (s = w / normaliser), computed <c>chunkSize</c> rows at a time so that at most [chunkSize, V] logits exist.
/// </summary>
/// <remarks>
/// <para>The gradients are computed in the forward pass, chunk by chunk, while each chunk's logits are at hand:
/// ∂L/∂logits = s · (softmax − onehot), ∂L/∂h = (∂L/∂logits) · W and ∂L/∂W = Σ (∂L/∂logits)ᵀ · h (the softmax and
/// one-hot terms are applied on either side of the matmuls, so the [c, V] buffer is read only by them). This costs the same
/// three matmuls as autograd over full logits (recomputing logits in backward would cost a fourth), keeps no logits
/// for backward, and is exact: the first backward pass only multiplies the stored gradients by the incoming scalar.
/// Only the gradients that are needed are computed (a frozen head gets none).</para>
/// <para>Precision: fp32 inputs are computed in fp32 throughout. bf16/fp16 inputs keep every matmul in their dtype (the
/// tensor-core path on a GPU, with fp32 accumulation inside each matmul) and compute the softmax statistics and the loss in
/// fp32; the weight gradient is accumulated across chunks in the weight's dtype, as the logits path's autograd would hand it
/// back, so no [V, D] fp32 buffer is held.</para>
/// <para>A stored gradient may become the storage of the parameter's <c>.grad</c> (autograd adopts it rather than
/// copying it), so a second backward pass through the same graph (<c>retain_graph</c>) recomputes the gradients from
/// the saved inputs instead of reusing them. Double backward (<c>create_graph</c>) is not supported.</para>
/// <para>Soft-capped logits (Gemma 2): with a cap c the logits are z = c · tanh(h · Wᵀ / c), and the chain rule adds the
/// factor 1 − (z / c)² to ∂L/∂z before the two matmuls (<see cref="SoftCappedChunk"/>).</para>
/// <para>Arguments of <c>apply</c>: hidden [M, D], weight [V, D], targets [M] int64, scaled weights [M] fp32,
/// chunk size (int), whether hidden needs a gradient (bool), whether the weight needs a gradient (bool), the logit
/// soft-cap (double; 0 for none).</para>
/// </remarks>
internal sealed class LinearCrossEntropyFunction : autograd.SingleTensorFunction<LinearCrossEntropyFunction>
{
    private const string StateKey = "state";

    /// <summary>
    /// What backward needs besides the saved inputs: the options, and the gradients computed in forward. The gradients
    /// are kept here rather than saved as autograd variables because one of them may become the parameter's .grad,
    /// which the user may then change in place (autograd's version check on saved variables would then fail).
    /// </summary>
    private sealed class State(int chunkSize, bool needHidden, bool needWeight, double softcap, Tensor? gradHidden, Tensor? gradWeight)
    {
        public int ChunkSize { get; } = chunkSize;
        public double Softcap { get; } = softcap;
        public bool NeedHidden { get; } = needHidden;
        public bool NeedWeight { get; } = needWeight;
        public Tensor? GradHidden { get; set; } = gradHidden;
        public Tensor? GradWeight { get; set; } = gradWeight;
        public bool Consumed { get; set; }
    }

    /// <inheritdoc />
    public override string Name => "ChunkedLinearCrossEntropy";

    /// <inheritdoc />
    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var hidden = (Tensor)vars[0];
        var weight = (Tensor)vars[1];
        var targets = (Tensor)vars[2];
        var scale = (Tensor)vars[3];
        int chunkSize = (int)vars[4];
        bool needHidden = (bool)vars[5], needWeight = (bool)vars[6];
        double softcap = (double)vars[7];

        var (loss, gradHidden, gradWeight) = Run(hidden, weight, targets, scale, chunkSize, needHidden, needWeight, softcap);
        ctx.save_for_backward([hidden, weight, targets, scale]);
        ctx.save_data(StateKey, new State(chunkSize, needHidden, needWeight, softcap, gradHidden?.DetachFromDisposeScope(),
            gradWeight?.DetachFromDisposeScope()));
        return loss;
    }

    /// <inheritdoc />
    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
    {
        var state = (State)ctx.get_data(StateKey);
        Tensor? gradHidden, gradWeight;
        if (!state.Consumed)
        {
            // Hand out new handles (registered in the caller's dispose scope, if any) and drop ours.
            gradHidden = state.GradHidden?.detach();
            gradWeight = state.GradWeight?.detach();
            state.GradHidden?.Dispose();
            state.GradWeight?.Dispose();
            state.GradHidden = state.GradWeight = null;
            state.Consumed = true;
        }
        else
        {
            List<Tensor> saved = ctx.get_saved_variables();
            (_, gradHidden, gradWeight) = Run(saved[0], saved[1], saved[2], saved[3], state.ChunkSize, state.NeedHidden, state.NeedWeight,
                state.Softcap);
        }

        // Scaled on the device, without reading the factor back to the host (no synchronisation in backward).
        using (Tensor factor = gradOutput.detach())
        {
            gradHidden?.mul_(factor);
            gradWeight?.mul_(factor);
        }
        return [gradHidden!, gradWeight!, null!, null!, null!, null!, null!, null!];
    }

    /// <summary>
    /// The loss (fp32 scalar) and, where asked for, the gradients of hidden and weight, chunk by chunk: per chunk of c
    /// rows the logits h · Wᵀ [c, V] are made in the input dtype and handed to the chunk rule for the inputs (soft-capped,
    /// fp32 or bf16/fp16), which adds the chunk's loss and writes or accumulates its gradients.
    /// </summary>
    private static (Tensor Loss, Tensor? GradHidden, Tensor? GradWeight) Run(Tensor hidden, Tensor weight, Tensor targets, Tensor scale,
        int chunkSize, bool needHidden, bool needWeight, double softcap)
    {
        bool float32 = softcap <= 0 && hidden.dtype == ScalarType.Float32;
        ChunkRule rule = softcap > 0 ? (chunk, loss) => SoftCappedChunk(chunk, loss, softcap)
            : float32 ? Float32Chunk : LowPrecisionChunk;
        using var scope = NewDisposeScope();
        long m = hidden.shape[0], d = hidden.shape[1], v = weight.shape[0];
        Tensor loss = zeros(Array.Empty<long>(), ScalarType.Float32, hidden.device);
        Tensor? gradHidden = needHidden ? empty([m, d], hidden.dtype, hidden.device) : null;
        // fp32 accumulates ∂L/∂W in fp32; the other rules in the weight's dtype (see their remarks).
        Tensor? gradWeight = needWeight ? zeros([v, d], float32 ? ScalarType.Float32 : weight.dtype, hidden.device) : null;
        Tensor weightT = weight.t();                                                                    // [D, V] view

        for (long start = 0; start < m; start += chunkSize)
        {
            using var chunkScope = NewDisposeScope();
            long rows = Math.Min(chunkSize, m - start);
            Tensor h = hidden.narrow(0, start, rows);                          // [c, D]
            var chunk = new Chunk(
                h,
                targets.narrow(0, start, rows).unsqueeze(1),                   // [c, 1]
                scale.narrow(0, start, rows),                                  // [c] fp32
                weight,
                h.matmul(weightT),                                             // [c, V] logits, input dtype
                gradHidden?.narrow(0, start, rows),                            // [c, D] view, or null
                gradWeight);                                                   // [V, D], or null
            rule(chunk, loss);
        }
        return (loss.MoveToOuterDisposeScope(), gradHidden?.MoveToOuterDisposeScope(), gradWeight?.MoveToOuterDisposeScope());
    }

    /// <summary>One chunk's inputs and outputs: hidden rows H [c, D], targets T [c, 1], scales S [c], the weight W [V, D],
    /// the logits L = H·Wᵀ [c, V] (a buffer the rule may overwrite), and the gradient rows to write ([c, D]) and the weight
    /// gradient to accumulate ([V, D]), each null when not needed.</summary>
    private readonly record struct Chunk(Tensor H, Tensor T, Tensor S, Tensor W, Tensor Logits, Tensor? GradHidden, Tensor? GradWeight)
    {
        public bool NeedsGradients => GradHidden is not null || GradWeight is not null;
    }

    private delegate void ChunkRule(Chunk chunk, Tensor loss);

    /// <summary>
    /// Soft-capped logits, any dtype: z = c · tanh(l / c) and its softmax in fp32, then G = (s·softmax(z) − s·onehot) ·
    /// (1 − (z/c)²) = ∂L/∂l, written back into l's buffer in the input dtype for ∂L/∂h = G·W and ∂L/∂W += Gᵀ·h
    /// (accumulated in the weight's dtype).
    /// </summary>
    private static void SoftCappedChunk(Chunk c, Tensor loss, double cap)
    {
        Tensor z = c.Logits.to(ScalarType.Float32).div_(cap).tanh_().mul_(cap); // [c, V] fp32 soft-capped
        Tensor targetLogit = z.gather(1, c.T).squeeze(1);                  // [c]
        Tensor lse = z.logsumexp(1);                                       // [c]
        loss.add_(((lse - targetLogit) * c.S).sum());
        if (!c.NeedsGradients) return;

        Tensor g = (z - lse.unsqueeze(1)).exp_().mul_(c.S.unsqueeze(1));   // s·softmax(z)
        g.scatter_add_(1, c.T, c.S.neg().unsqueeze(1));                    // − s·onehot: ∂L/∂z
        g.mul_(z.div_(cap).pow_(2).neg_().add_(1.0));                      // · (1 − (z/c)²): ∂L/∂l
        Tensor gl = c.Logits.copy_(g);                                     // [c, V] in the input dtype
        c.GradHidden?.addmm_(gl, c.W, beta: 0);                            // [c, D] = [c, V]·[V, D]
        c.GradWeight?.addmm_(gl.t(), c.H);                                 // [V, D] += [V, c]·[c, D]
    }

    /// <summary>
    /// fp32 inputs: the softmax and one-hot terms of ∂L/∂logits are applied on either side of the matmuls, so the [c, V]
    /// buffer is written once (the logits, then E = exp(logits − max) in place) and read by the two gradient matmuls.
    /// </summary>
    private static void Float32Chunk(Chunk c, Tensor loss)
    {
        Tensor buffer = c.Logits;                                          // [c, V] logits
        Tensor targetLogit = buffer.gather(1, c.T).squeeze(1);             // [c]
        Tensor max = buffer.amax([1], keepdim: true);                      // [c, 1]
        Tensor e = buffer.sub_(max).exp_();                                // [c, V] E
        Tensor sumExp = e.sum(1);                                          // [c]
        Tensor lse = sumExp.log() + max.squeeze(1);                        // [c] log Σ exp(logits)
        loss.add_(((lse - targetLogit) * c.S).sum());
        if (!c.NeedsGradients) return;

        // ∂L/∂logits = s·softmax − s·onehot = diag(a)·E − diag(s)·onehot with a = s / ΣE. The two terms go into
        // the matmuls separately, so no further pass over the [c, V] buffer is needed:
        //   ∂L/∂h = diag(a)·(E·W) − diag(s)·W[t],   ∂L/∂W += Eᵀ·(diag(a)·h) − scatter_t(diag(s)·h).
        Tensor a = (c.S / sumExp).unsqueeze(1);                            // [c, 1]
        Tensor sColumn = c.S.unsqueeze(1);                                 // [c, 1]
        if (c.GradHidden is not null)
        {
            Tensor projected = e.matmul(c.W);                              // [c, D]
            Tensor targetRows = c.W.index_select(0, c.T.squeeze(1));       // [c, D]
            c.GradHidden.copy_(projected.mul_(a).sub_(targetRows.mul_(sColumn)));
        }
        if (c.GradWeight is not null)
        {
            c.GradWeight.addmm_(e.t(), c.H * a);                           // [V, D] += [V, c]·[c, D]
            c.GradWeight.index_add_(0, c.T.squeeze(1), c.H * sColumn, -1.0);
        }
    }

    /// <summary>
    /// bf16/fp16 inputs: every matmul runs in the input dtype (tensor cores on a GPU, fp32 accumulation inside the matmul);
    /// only the softmax statistics are fp32. Per chunk: one fp32 copy of the logits on which max, E = exp(logits − max),
    /// ΣE and then G = ∂L/∂logits = diag(s/ΣE)·E − diag(s)·onehot are computed in place → G written back into the
    /// logits' own buffer in the input dtype, which feeds ∂L/∂h = G·W and ∂L/∂W += Gᵀ·h. The weight gradient is
    /// accumulated in the weight's dtype (no [V, D] fp32 buffer): each chunk adds its matmul, summed in fp32 inside the
    /// matmul, to the running sum, so there is one rounding per chunk.
    /// </summary>
    private static void LowPrecisionChunk(Chunk c, Tensor loss)
    {
        Tensor e = c.Logits.to(ScalarType.Float32);                        // [c, V] fp32: logits, then E, then G
        Tensor targetLogit = e.gather(1, c.T).squeeze(1);                  // [c]
        Tensor max = e.amax([1], keepdim: true);                           // [c, 1]
        e.sub_(max).exp_();                                                // E
        Tensor sumExp = e.sum(1);                                          // [c]
        Tensor lse = sumExp.log() + max.squeeze(1);                        // [c] log Σ exp(logits)
        loss.add_(((lse - targetLogit) * c.S).sum());
        if (!c.NeedsGradients) return;

        e.mul_((c.S / sumExp).unsqueeze(1));                               // s·softmax
        e.scatter_add_(1, c.T, c.S.neg().unsqueeze(1));                    // − s·onehot: G in fp32
        Tensor g = c.Logits.copy_(e);                                      // [c, V] G in the input dtype
        c.GradHidden?.addmm_(g, c.W, beta: 0);                             // [c, D] = [c, V]·[V, D]
        c.GradWeight?.addmm_(g.t(), c.H);                                  // [V, D] += [V, c]·[c, D]
    }
}
