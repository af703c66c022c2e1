using static TorchSharp.torch;

namespace PromptLossWeight.Bench.StandIn;

/// <summary>
/// The documents of a batch, read from an attention mask of document ids (0 = padding): contiguous runs of one id.
/// </summary>
internal sealed class Documents
{
    private Documents(bool singlePerRow, long[] runLengths)
    {
        SinglePerRow = singlePerRow;
        RunLengths = runLengths;
    }

    /// <summary>True when every row holds one document followed by padding (a padded batch).</summary>
    public bool SinglePerRow { get; }

    /// <summary>Lengths of the runs of equal id (documents and padding) along the flattened [B·N] token axis.</summary>
    public long[] RunLengths { get; }

    public static Documents FromMask(Tensor attentionMask)
    {
        long b = attentionMask.shape[0], n = attentionMask.shape[1];
        long[] ids = attentionMask.cpu().data<long>().ToArray();
        var runs = new List<long>();
        bool single = true;
        for (long r = 0; r < b; r++)
        {
            long start = 0;
            for (long i = 1; i <= n; i++)
            {
                if (i < n && ids[r * n + i] == ids[r * n + start]) continue;
                long id = ids[r * n + start];
                if (id > 1 || (id == 1 && start != 0)) single = false;
                runs.Add(i - start);
                start = i;
            }
        }
        return new Documents(single, runs.ToArray());
    }
}
