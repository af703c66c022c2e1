using System.Text;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PromptLossWeight.Distributed;

/// <summary>
/// What the trainer does across ranks, on top of the engine's sums and broadcasts: gradients summed in flat buckets,
/// scalars and flags agreed on in one collective, rank 0's parameters, state and text handed to every rank.
/// </summary>
internal sealed class DataParallel
{
    /// <summary>The gradient bucket size: large enough that per-call latency is small next to bandwidth, small enough to bound the staging memory.</summary>
    public const long BucketBytes = 25L << 20;

    private readonly DistributedContext _context;

    public DataParallel(DistributedContext context) => _context = context;

    public int Rank => _context.Rank;

    public int WorldSize => _context.WorldSize;

    private ICollectives Collectives => _context.Collectives;

    /// <summary>Sums every gradient over the ranks, in place; a parameter without a gradient on this rank contributes zeros.</summary>
    public void SumGradients(IReadOnlyList<Parameter> parameters, string what)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        foreach (Parameter p in parameters)
            if (p.grad is null) p.grad = zeros_like(p).DetachFromDisposeScope();
        var buckets = new List<(Tensor Flat, List<Tensor> Grads)>();
        foreach (var group in parameters.Select(p => p.grad!).GroupBy(g => g.dtype))
        {
            var current = new List<Tensor>();
            long bytes = 0;
            foreach (Tensor grad in group)
            {
                long size = grad.numel() * grad.ElementSize;
                if (current.Count > 0 && bytes + size > BucketBytes)
                {
                    buckets.Add((Flatten(current), current));
                    current = [];
                    bytes = 0;
                }
                current.Add(grad);
                bytes += size;
            }
            if (current.Count > 0) buckets.Add((Flatten(current), current));
        }
        Collectives.AllReduceSum(buckets.Select(b => b.Flat).ToList(), what);
        foreach (var (flat, grads) in buckets)
        {
            long offset = 0;
            foreach (Tensor grad in grads)
            {
                grad.copy_(flat.narrow(0, offset, grad.numel()).view_as(grad));
                offset += grad.numel();
            }
        }
    }

    private static Tensor Flatten(List<Tensor> grads) => cat(grads.Select(g => g.reshape(-1)).ToList(), 0);

    /// <summary>Sums fp64 scalars over the ranks in one collective and returns the sums (the tensors are left as they are).</summary>
    public Tensor SumScalars(IReadOnlyList<Tensor> scalars, string what)
    {
        Tensor all = cat(scalars.Select(s => s.detach().to(ScalarType.Float64).reshape(1)).ToList(), 0);
        Collectives.AllReduceSum([all], what);
        return all;
    }

    /// <summary>Sums an array over the ranks, in place.</summary>
    public void Sum(double[] values, string what)
    {
        if (values.Length == 0) return;
        using var scope = NewDisposeScope();
        Tensor buffer = tensor(values);
        Collectives.AllReduceSum([buffer], what);
        buffer.data<double>().CopyTo(values, 0);
    }

    /// <summary>True on every rank when <paramref name="flag"/> is true on any.</summary>
    public bool Any(bool flag, string what)
    {
        var value = new[] { flag ? 1.0 : 0.0 };
        Sum(value, what);
        return value[0] > 0;
    }

    /// <summary>Copies rank 0's values of the tensors into every rank's, in place.</summary>
    public void BroadcastFromMain(IReadOnlyList<Tensor> tensors, string what)
    {
        using var noGrad = no_grad();
        Collectives.Broadcast(tensors, what);
    }

    /// <summary>Rank 0's <paramref name="text"/> on every rank (the other ranks' argument is ignored).</summary>
    public string BroadcastText(string? text, string what)
    {
        using var scope = NewDisposeScope();
        byte[] bytes = Rank == 0 ? Encoding.UTF8.GetBytes(text ?? "") : [];
        Tensor length = tensor(new long[] { bytes.Length });
        Collectives.Broadcast([length], what);
        long n = length.item<long>();
        if (n == 0) return "";
        Tensor buffer = Rank == 0 ? tensor(bytes) : zeros(n, ScalarType.Byte);
        Collectives.Broadcast([buffer], what);
        return Encoding.UTF8.GetString(buffer.data<byte>().ToArray());
    }

    /// <summary>Tells the other ranks that this one failed (see <see cref="DistributedContext.ReportFailure"/>).</summary>
    public void ReportFailure(Exception error) => _context.ReportFailure(error);
}
