using PromptLossWeight.Masking;
using static TorchSharp.torch;

namespace PromptLossWeight.Batching;

/// <summary>Collates <see cref="MaskedExample"/>s into a right-padded <see cref="Batch"/>.</summary>
public static class PaddingCollator
{
    /// <summary>
    /// Pads every example on the right to the longest one (rounded up to <paramref name="padToMultipleOf"/>).
    /// </summary>
    /// <param name="examples">The examples; at least one.</param>
    /// <param name="padId">Token id written into padding positions (they are never attended to nor predicted).</param>
    /// <param name="device">Where the tensors go; null for the CPU.</param>
    /// <param name="padToMultipleOf">Row length is rounded up to a multiple of this (1: no rounding).</param>
    public static Batch Pad(IReadOnlyList<MaskedExample> examples, long padId = 0, Device? device = null, int padToMultipleOf = 1)
    {
        ArgumentNullException.ThrowIfNull(examples);
        if (examples.Count == 0) throw new ArgumentException("Cannot collate an empty list of examples.", nameof(examples));
        if (padToMultipleOf < 1) throw new ArgumentOutOfRangeException(nameof(padToMultipleOf), padToMultipleOf, "Must be >= 1.");
        int b = examples.Count;
        int n = examples.Max(e => e.Length);
        n = (n + padToMultipleOf - 1) / padToMultipleOf * padToMultipleOf;

        var ids = new long[b * n];
        var mask = new long[b * n];
        var positions = new long[b * n];
        var labels = new long[b * n];
        var roles = new long[b * n];
        float[]? data = examples.Any(e => e.DataWeights is not null) ? new float[b * n] : null;
        for (int row = 0; row < b; row++)
        {
            MaskedExample e = examples[row];
            for (int i = 0; i < n; i++)
            {
                int k = row * n + i;
                bool real = i < e.Length;
                ids[k] = real ? e.InputIds[i] : padId;
                mask[k] = real ? 1 : 0;
                positions[k] = i;
                labels[k] = real ? e.InputIds[i] : TokenLabels.IgnoreIndex;
                roles[k] = real ? (long)e.Roles[i] : (long)TokenRole.User;
                if (data is not null) data[k] = real ? e.DataWeight(i) : 0f;
            }
        }
        Device target = device ?? CPU;
        long[] shape = [b, n];
        return new Batch(tensor(ids, shape, device: target), tensor(mask, shape, device: target), tensor(positions, shape, device: target),
            tensor(labels, shape, device: target), tensor(roles, shape, device: target),
            data is null ? null : tensor(data, shape, device: target));
    }
}
