using static TorchSharp.torch;

namespace PromptLossWeight.Llama.Model;

/// <summary>
/// Keys and values of the tokens already processed, per layer, so that decoding one more token costs one position
/// instead of the whole sequence. Stores the kv heads before grouped-query repetition: [B, kvHeads, T, headDim].
/// Dispose it when generation ends.
/// </summary>
public sealed class KvCache : IDisposable
{
    private readonly Tensor?[] _keys;
    private readonly Tensor?[] _values;

    /// <summary>Creates an empty cache for a model with <paramref name="layers"/> decoder layers.</summary>
    public KvCache(int layers)
    {
        _keys = new Tensor?[layers];
        _values = new Tensor?[layers];
    }

    /// <summary>Number of positions cached so far (T).</summary>
    public long Length => _keys[0] is { } k ? k.shape[2] : 0;

    /// <summary>
    /// Appends the new keys/values [B, kvHeads, N, headDim] of layer <paramref name="layer"/> and returns all of them
    /// [B, kvHeads, T + N, headDim]. The returned tensors belong to the cache.
    /// </summary>
    public (Tensor Keys, Tensor Values) Append(int layer, Tensor keys, Tensor values)
    {
        Tensor k = _keys[layer] is { } oldK ? cat([oldK, keys], dim: 2) : keys.clone();
        Tensor v = _values[layer] is { } oldV ? cat([oldV, values], dim: 2) : values.clone();
        _keys[layer]?.Dispose();
        _values[layer]?.Dispose();
        k.DetachFromDisposeScope();
        v.DetachFromDisposeScope();
        _keys[layer] = k;
        _values[layer] = v;
        return (k, v);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        for (int i = 0; i < _keys.Length; i++)
        {
            _keys[i]?.Dispose();
            _values[i]?.Dispose();
            _keys[i] = _values[i] = null;
        }
    }
}
