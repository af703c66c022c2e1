using TorchSharp;
using static TorchSharp.torch;

namespace PromptLossWeight.Llama.Model;

/// <summary>
/// The documents of a batch as contiguous spans of its rows, found once per forward pass from the document ids, so
/// that attention runs causally within each document ("varlen" attention) instead of over every pair of the row under
/// a dense mask. On the flattened [B·N] token axis the documents and the padding between them are consecutive runs:
/// attention splits q, k, v into views of those runs, attends within each document and concatenates the outputs.
/// </summary>
public sealed class DocumentSpans
{
    /// <summary>One document: <see cref="Length"/> tokens of row <see cref="Row"/> from <see cref="Start"/> on.</summary>
    /// <param name="Row">The batch row.</param>
    /// <param name="Start">The first token of the document in the row.</param>
    /// <param name="Length">The number of tokens of the document.</param>
    public readonly record struct Span(int Row, int Start, int Length);

    private readonly long _rows, _rowLength;
    private readonly long[] _runLengths;   // lengths of the runs (documents and padding) along the flattened [B·N] axis
    private readonly bool[] _runIsDocument; // false for a padding run

    private DocumentSpans(long rows, long rowLength, IReadOnlyList<Span> spans, bool onePerRowFromStart)
    {
        _rows = rows;
        _rowLength = rowLength;
        Spans = spans;
        OnePerRowFromStart = onePerRowFromStart;

        // Walk the flattened axis: padding before each span (merged across rows), then the span; padding at the end.
        var lengths = new List<long>();
        var isDocument = new List<bool>();
        void Add(long length, bool document)
        {
            if (length == 0) return;
            if (!document && isDocument.Count > 0 && !isDocument[^1]) lengths[^1] += length; // one padding run
            else { lengths.Add(length); isDocument.Add(document); }
        }
        long next = 0; // flat index of the first token not yet in a run
        foreach (Span span in spans)
        {
            long start = span.Row * rowLength + span.Start;
            Add(start - next, document: false);
            Add(span.Length, document: true);
            next = start + span.Length;
        }
        Add(rows * rowLength - next, document: false);
        _runLengths = [.. lengths];
        _runIsDocument = [.. isDocument];
    }

    /// <summary>The documents, row by row, left to right.</summary>
    public IReadOnlyList<Span> Spans { get; }

    /// <summary>
    /// True when every row holds at most one document and it starts at the row's first token (right padding): one
    /// batched causal attention over whole rows is then exact for every real token, since padding only follows them.
    /// </summary>
    public bool OnePerRowFromStart { get; }

    /// <summary>The number of attention calls per layer: one for whole rows, otherwise one per document.</summary>
    public int AttentionCalls => OnePerRowFromStart ? 1 : Spans.Count;

    /// <summary>
    /// The spans of document ids <paramref name="docIds"/> [B, N] (0 = padding, otherwise a document id), or null when a
    /// document id occurs in separate runs of one row (its tokens would have to attend across the gap: the caller then
    /// keeps the explicit mask).
    /// </summary>
    public static DocumentSpans? Find(Tensor docIds)
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
        return new DocumentSpans(rows, n, spans, onePerRowFromStart);
    }

    /// <summary>
    /// Causal attention within each document: q, k, v [B, N, heads, H] (k, v already repeated to all query heads) →
    /// [B, N, heads, H]. Padding tokens get zeros (their outputs are never used).
    /// </summary>
    public Tensor Attend(Tensor q, Tensor k, Tensor v)
    {
        using var scope = NewDisposeScope();
        long heads = q.shape[2], headDim = q.shape[3];
        if (OnePerRowFromStart)
        {
            Tensor whole = nn.functional.scaled_dot_product_attention(
                q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_casual: true);          // [B, heads, N, H]
            return whole.transpose(1, 2).MoveToOuterDisposeScope();                             // [B, N, heads, H]
        }

        // The flattened token axis, cut into runs: views [heads, L, H], one per document or padding run.
        Tensor[] Runs(Tensor t) => t.reshape(_rows * _rowLength, heads, headDim)                 // [B·N, heads, H]
            .transpose(0, 1).split(_runLengths, 1);                                                // [heads, L, H] each
        Tensor[] qs = Runs(q), ks = Runs(k), vs = Runs(v);
        var outputs = new Tensor[qs.Length];
        for (int i = 0; i < qs.Length; i++)
        {
            Tensor run = _runIsDocument[i]
                ? nn.functional.scaled_dot_product_attention(
                    qs[i].unsqueeze(0), ks[i].unsqueeze(0), vs[i].unsqueeze(0), is_casual: true).squeeze(0) // [heads, L, H]
                : zeros_like(qs[i]);                                                                          // padding
            outputs[i] = run.transpose(0, 1);                                                                 // [L, heads, H]
        }
        // One copy: cat writes the runs token-major, so the result is already laid out as [B, N, heads, H].
        Tensor y = cat(outputs, 0);                                                                // [B·N, heads, H]
        return y.view(_rows, _rowLength, heads, headDim).MoveToOuterDisposeScope();              // [B, N, heads, H]
    }
}
