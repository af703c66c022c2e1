using TorchSharp;
using static TorchSharp.torch;

namespace PromptLossWeight.Llama.Model;

/// <summary>
/// The documents of a batch as contiguous spans of its rows, found once per forward pass from the document ids, so
/// that attention runs causally within each document ("varlen" attention) instead of over every pair of the row under
/// a dense mask. Spans of equal length, from any row, share one attention call.
/// </summary>
public sealed class DocumentSpans : IDisposable
{
    /// <summary>One document: <see cref="Length"/> tokens of row <see cref="Row"/> from <see cref="Start"/> on.</summary>
    /// <param name="Row">The batch row.</param>
    /// <param name="Start">The first token of the document in the row.</param>
    /// <param name="Length">The number of tokens of the document.</param>
    public readonly record struct Span(int Row, int Start, int Length);

    private readonly long _rows, _rowLength;
    private readonly (int Length, int Count)[] _buckets; // spans grouped by length, in the order of _order
    private readonly Tensor? _order;                      // [R] flat token index (row·N + t) of every real token, bucket by bucket

    private DocumentSpans(long rows, long rowLength, IReadOnlyList<Span> spans, bool onePerRowFromStart, Device device)
    {
        _rows = rows;
        _rowLength = rowLength;
        Spans = spans;
        OnePerRowFromStart = onePerRowFromStart;
        var byLength = spans.GroupBy(s => s.Length).OrderBy(g => g.Key).ToArray();
        _buckets = byLength.Select(g => (g.Key, g.Count())).ToArray();
        if (onePerRowFromStart) return;
        var order = new List<long>();
        foreach (var bucket in byLength)
            foreach (Span span in bucket)
                for (int t = 0; t < span.Length; t++)
                    order.Add(span.Row * rowLength + span.Start + t);
        _order = tensor(order.ToArray(), dtype: ScalarType.Int64, device: device);
    }

    /// <summary>The documents, row by row, left to right.</summary>
    public IReadOnlyList<Span> Spans { get; }

    /// <summary>
    /// True when every row holds at most one document and it starts at the row's first token (right padding): one
    /// batched causal attention over whole rows is then exact for every real token, since padding only follows them.
    /// </summary>
    public bool OnePerRowFromStart { get; }

    /// <summary>The number of attention calls per layer: one for whole rows, otherwise one per distinct span length.</summary>
    public int AttentionCalls => OnePerRowFromStart ? 1 : _buckets.Length;

    /// <summary>
    /// The spans of document ids <paramref name="docIds"/> [B, N] (0 = padding, otherwise a document id), or null when a
    /// document id occurs in separate runs of one row (its tokens would have to attend across the gap: the caller then
    /// keeps the explicit mask). The token index used by <see cref="Attend"/> lives on <paramref name="device"/>
    /// (default: the device of <paramref name="docIds"/>).
    /// </summary>
    public static DocumentSpans? Find(Tensor docIds, Device? device = null)
    {
        if (docIds.dim() != 2)
            throw new ArgumentException($"Document ids must be [B, N]; got [{string.Join(", ", docIds.shape)}].", nameof(docIds));
        int rows = (int)docIds.shape[0], n = (int)docIds.shape[1];
        long[] ids;
        using (Tensor onCpu = docIds.to(ScalarType.Int64).cpu().contiguous())
            ids = onCpu.data<long>().ToArray();

        var spans = new List<Span>();
        bool onePerRowFromStart = true;
        for (int row = 0; row < rows; row++)
        {
            var seen = new HashSet<long>();
            int documentsInRow = 0;
            int t = 0;
            while (t < n)
            {
                long id = ids[row * n + t];
                int start = t;
                while (t < n && ids[row * n + t] == id) t++;
                if (id == 0) continue;                       // padding: no span
                if (!seen.Add(id)) return null;              // the same document in two separate runs
                spans.Add(new Span(row, start, t - start));
                documentsInRow++;
                if (start != 0) onePerRowFromStart = false;
            }
            if (documentsInRow > 1) onePerRowFromStart = false;
        }
        return new DocumentSpans(rows, n, spans, onePerRowFromStart, device ?? docIds.device);
    }

    /// <summary>
    /// Causal attention within each document: q, k, v [B, heads, N, H] (k, v already repeated to all query heads) →
    /// [B, N, heads, H]. Padding tokens get zeros (their outputs are never used).
    /// </summary>
    public Tensor Attend(Tensor q, Tensor k, Tensor v)
    {
        using var scope = NewDisposeScope();
        long heads = q.shape[1], headDim = q.shape[3];
        if (OnePerRowFromStart)
        {
            Tensor whole = nn.functional.scaled_dot_product_attention(q, k, v, is_casual: true); // [B, heads, N, H]
            return whole.transpose(1, 2).MoveToOuterDisposeScope();                             // [B, N, heads, H]
        }

        // Tokens of all documents, bucket after bucket: [R, heads, H] with R = real tokens.
        Tensor Gather(Tensor t) => t.transpose(1, 2).reshape(_rows * _rowLength, heads, headDim).index_select(0, _order!);
        Tensor[] qs = Split(Gather(q)), ks = Split(Gather(k)), vs = Split(Gather(v));
        var outputs = new Tensor[_buckets.Length];
        for (int i = 0; i < _buckets.Length; i++)
        {
            var (length, count) = _buckets[i];
            Tensor Docs(Tensor t) => t.view(count, length, heads, headDim).transpose(1, 2);               // [S, heads, L, H]
            Tensor y = nn.functional.scaled_dot_product_attention(Docs(qs[i]), Docs(ks[i]), Docs(vs[i]), is_casual: true);
            outputs[i] = y.transpose(1, 2).reshape(count * length, heads, headDim);                         // [S·L, heads, H]
        }
        Tensor placed = zeros(_rows * _rowLength, heads, headDim, dtype: q.dtype, device: q.device)
            .index_copy(0, _order!, cat(outputs, 0));                                                       // [B·N, heads, H]
        return placed.view(_rows, _rowLength, heads, headDim).MoveToOuterDisposeScope();                  // [B, N, heads, H]
    }

    private Tensor[] Split(Tensor tokens) => tokens.split(_buckets.Select(b => (long)b.Length * b.Count).ToArray(), 0);

    /// <summary>Frees the token index.</summary>
    public void Dispose() => _order?.Dispose();
}
