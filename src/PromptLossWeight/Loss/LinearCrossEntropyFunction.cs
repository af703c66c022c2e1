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
/// <para>A stored gradient may become the storage of the parameter's <c>.grad</c> (autograd adopts it rather than
/// copying it), so a second backward pass through the same graph (<c>retain_graph</c>) recomputes the gradients from
/// the saved inputs instead of reusing them. Double backward (<c>create_graph</c>) is not supported.</para>
/// <para>Arguments of <c>apply</c>: hidden [M, D], weight [V, D], targets [M] int64, scaled weights [M] fp32,
/// chunk size (int), whether hidden needs a gradient (bool), whether the weight needs a gradient (bool).</para>
/// </remarks>
internal sealed class LinearCrossEntropyFunction : autograd.SingleTensorFunction<LinearCrossEntropyFunction>
{
    private const string StateKey = "state";

    /// <summary>
    /// What backward needs besides the saved inputs: the options, and the gradients computed in forward. The gradients
    /// are kept here rather than saved as autograd variables because one of them may become the parameter's .grad,
    /// which the user may then change in place (autograd's version check on saved variables would then fail).
    /// </summary>
    private sealed class State(int chunkSize, bool needHidden, bool needWeight, Tensor? gradHidden, Tensor? gradWeight)
    {
        public int ChunkSize { get; } = chunkSize;
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

        var (loss, gradHidden, gradWeight) = Run(hidden, weight, targets, scale, chunkSize, needHidden, needWeight);
        ctx.save_for_backward([hidden, weight, targets, scale]);
        ctx.save_data(StateKey, new State(chunkSize, needHidden, needWeight, gradHidden?.DetachFromDisposeScope(), gradWeight?.DetachFromDisposeScope()));
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
            (_, gradHidden, gradWeight) = Run(saved[0], saved[1], saved[2], saved[3], state.ChunkSize, state.NeedHidden, state.NeedWeight);
        }

        float factor = gradOutput.to(ScalarType.Float32).item<float>();
        if (factor != 1.0f)
        {
            gradHidden = gradHidden?.mul_(factor);
            gradWeight = gradWeight?.mul_(factor);
        }
        return [gradHidden!, gradWeight!, null!, null!, null!, null!, null!];
    }

    /// <summary>The loss (fp32 scalar) and, where asked for, the gradients of hidden and weight, chunk by chunk.</summary>
    private static (Tensor Loss, Tensor? GradHidden, Tensor? GradWeight) Run(Tensor hidden, Tensor weight, Tensor targets, Tensor scale,
        int chunkSize, bool needHidden, bool needWeight)
    {
        using var scope = NewDisposeScope();
        long m = hidden.shape[0], d = hidden.shape[1], v = weight.shape[0];
        bool lowPrecision = hidden.dtype != ScalarType.Float32;
        Tensor loss = zeros(Array.Empty<long>(), ScalarType.Float32, hidden.device);
        Tensor? gradHidden = needHidden ? empty([m, d], hidden.dtype, hidden.device) : null;
        Tensor? gradWeight = needWeight ? zeros([v, d], ScalarType.Float32, hidden.device) : null; // fp32 accumulator
        Tensor weightT = weight.t();                                                                    // [D, V] view

        for (long start = 0; start < m; start += chunkSize)
        {
            using var chunkScope = NewDisposeScope();
            long rows = Math.Min(chunkSize, m - start);
            Tensor h = hidden.narrow(0, start, rows);                          // [c, D]
            Tensor t = targets.narrow(0, start, rows).unsqueeze(1);            // [c, 1]
            Tensor s = scale.narrow(0, start, rows);                           // [c]
            // One [c, V] fp32 buffer per chunk: the logits, then E = exp(logits − max) in place.
            Tensor buffer = h.matmul(weightT).to(ScalarType.Float32);         // [c, V] logits
            Tensor targetLogit = buffer.gather(1, t).squeeze(1);               // [c]
            Tensor max = buffer.amax([1], keepdim: true);                      // [c, 1]
            Tensor e = buffer.sub_(max).exp_();                                // [c, V] E
            Tensor sumExp = e.sum(1);                                          // [c]
            Tensor lse = sumExp.log() + max.squeeze(1);                        // [c] log Σ exp(logits)
            loss.add_(((lse - targetLogit) * s).sum());
            if (!needHidden && !needWeight) continue;

            // ∂L/∂logits = s·softmax − s·onehot = diag(a)·E − diag(s)·onehot with a = s / ΣE. The two terms go into
            // the matmuls separately, so no further pass over the [c, V] buffer is needed:
            //   ∂L/∂h = diag(a)·(E·W) − diag(s)·W[t],   ∂L/∂W += Eᵀ·(diag(a)·h) − scatter_t(diag(s)·h).
            Tensor a = (s / sumExp).unsqueeze(1);                              // [c, 1]
            Tensor sColumn = s.unsqueeze(1);                                   // [c, 1]
            if (gradHidden is not null)
            {
                Tensor eLow = lowPrecision ? e.to(weight.dtype) : e;
                Tensor projected = eLow.matmul(weight).to(ScalarType.Float32); // [c, D]
                Tensor targetRows = weight.index_select(0, t.squeeze(1)).to(ScalarType.Float32);
                gradHidden.narrow(0, start, rows).copy_(projected.mul_(a).sub_(targetRows.mul_(sColumn)));
            }
            if (gradWeight is not null)
            {
                Tensor h32 = lowPrecision ? h.to(ScalarType.Float32) : h;
                gradWeight.addmm_(e.t(), h32 * a);                             // [V, D] += [V, c]·[c, D]
                gradWeight.index_add_(0, t.squeeze(1), h32 * sColumn, -1.0);
            }
        }

        if (gradWeight is not null && lowPrecision) gradWeight = gradWeight.to(weight.dtype);
        return (loss.MoveToOuterDisposeScope(), gradHidden?.MoveToOuterDisposeScope(), gradWeight?.MoveToOuterDisposeScope());
    }
}
