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
/// ∂L/∂logits = s · (softmax − onehot), ∂L/∂h = (∂L/∂logits) · W and ∂L/∂W = Σ (∂L/∂logits)ᵀ · h. This costs the same
/// three matmuls as autograd over full logits (recomputing logits in backward would cost a fourth), keeps no logits
/// for backward, and is exact: backward only multiplies the stored gradients by the incoming scalar gradient.
/// Only the gradients that are needed are computed (a frozen head gets none).</para>
/// <para>Arguments of <c>apply</c>: hidden [M, D], weight [V, D], targets [M] int64, scaled weights [M] fp32,
/// chunk size (int), whether hidden needs a gradient (bool), whether the weight needs a gradient (bool).</para>
/// </remarks>
internal sealed class LinearCrossEntropyFunction : autograd.SingleTensorFunction<LinearCrossEntropyFunction>
{
    /// <inheritdoc />
    public override string Name => "ChunkedLinearCrossEntropy";

    /// <inheritdoc />
    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var hidden = (Tensor)vars[0];        // [M, D]
        var weight = (Tensor)vars[1];        // [V, D]
        var targets = (Tensor)vars[2];       // [M] int64
        var scale = (Tensor)vars[3];         // [M] fp32
        int chunkSize = (int)vars[4];
        bool needHidden = (bool)vars[5];
        bool needWeight = (bool)vars[6];

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
            Tensor logits = h.matmul(weightT).to(ScalarType.Float32);          // [c, V] fp32
            Tensor lse = logits.logsumexp(1);                                  // [c]
            Tensor targetLogit = logits.gather(1, t).squeeze(1);               // [c]
            loss.add_(((lse - targetLogit) * s).sum());
            if (!needHidden && !needWeight) continue;

            // ∂L/∂logits = s · (softmax − onehot), built in place in the logits buffer.
            Tensor g = logits.sub_(lse.unsqueeze(1)).exp_();
            g.scatter_add_(1, t, full([rows, 1], -1.0f, ScalarType.Float32, hidden.device));
            g.mul_(s.unsqueeze(1));                                            // [c, V] fp32
            if (gradHidden is not null)
            {
                Tensor gLow = lowPrecision ? g.to(weight.dtype) : g;
                gradHidden.narrow(0, start, rows).copy_(gLow.matmul(weight)); // [c, D]
            }
            gradWeight?.addmm_(g.t(), lowPrecision ? h.to(ScalarType.Float32) : h); // [V, D] += [V, c]·[c, D]
        }

        if (gradWeight is not null && lowPrecision) gradWeight = gradWeight.to(weight.dtype);
        ctx.save_for_backward([gradHidden!, gradWeight!]);
        gradHidden?.MoveToOuterDisposeScope();
        gradWeight?.MoveToOuterDisposeScope();
        return loss.MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
    {
        List<Tensor> saved = ctx.get_saved_variables();
        Tensor? gradHidden = saved[0], gradWeight = saved[1];
        float factor = gradOutput.to(ScalarType.Float32).item<float>();
        if (factor != 1.0f)
        {
            gradHidden = gradHidden?.mul(factor);
            gradWeight = gradWeight?.mul(factor);
        }
        return [gradHidden!, gradWeight!, null!, null!, null!, null!, null!];
    }
}
