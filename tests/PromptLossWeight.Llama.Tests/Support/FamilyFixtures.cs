using System.Text.Json;
using PromptLossWeight.Llama.Checkpoints;
using PromptLossWeight.Llama.Model;
using PromptLossWeight.Llama.Runtime;
using static TorchSharp.torch;

namespace PromptLossWeight.Llama.Tests.Support;

/// <summary>
/// The committed tiny checkpoints of Fixtures/Families (one folder per model family: config.json, model.safetensors,
/// reference.json), written by scripts/make-family-fixtures.py. Their reference logits and greedy tokens come from the
/// independent NumPy float64 forward pass of that script, written from transformers' modeling files; the
/// transformers comparison itself (<c>make-family-fixtures.py --check-transformers</c>) is to be re-run on a GPU
/// machine, where transformers is installed.
/// </summary>
internal static class FamilyFixtures
{
    /// <summary>The family folders, by <c>model_type</c>.</summary>
    public static readonly string[] Families = ["qwen2", "qwen3", "mistral", "gemma2", "gemma3_text"];

    /// <summary>xunit data: one row per family.</summary>
    public static TheoryData<string> All()
    {
        var data = new TheoryData<string>();
        foreach (string family in Families) data.Add(family);
        return data;
    }

    /// <summary>The folder of <paramref name="family"/> next to the test assembly.</summary>
    public static string Folder(string family) => Path.Combine(AppContext.BaseDirectory, "Fixtures", "Families", family);

    /// <summary>The family's checkpoint, loaded on the CPU in fp32.</summary>
    public static LlamaForCausalLM Load(string family)
    {
        TorchRuntime.EnsureLoaded();
        return LlamaCheckpoint.Load(Folder(family), CPU, ScalarType.Float32);
    }

    /// <summary>The family's reference.json.</summary>
    public static Reference ReadReference(string family)
    {
        using var document = JsonDocument.Parse(File.ReadAllText(Path.Combine(Folder(family), "reference.json")));
        JsonElement root = document.RootElement;
        long[] Longs(string name) => root.GetProperty(name).EnumerateArray().Select(e => e.GetInt64()).ToArray();
        float[][] logits = root.GetProperty("logits").EnumerateArray()
            .Select(row => row.EnumerateArray().Select(v => v.GetSingle()).ToArray()).ToArray();
        return new Reference(root.GetProperty("reference").GetString()!, root.GetProperty("model_type").GetString()!,
            Longs("input_ids"), logits, Longs("prompt"), Longs("greedy"));
    }

    /// <summary>What the reference computed for one family.</summary>
    /// <param name="MadeBy">Which reference produced the numbers (the NumPy forward, the versions it was written from).</param>
    /// <param name="ModelType">The family's <c>model_type</c>.</param>
    /// <param name="InputIds">The sequence whose logits were computed (longer than every sliding window).</param>
    /// <param name="Logits">[N, V] fp32 logits at every position of <see cref="InputIds"/>.</param>
    /// <param name="Prompt">The prompt of the greedy continuation.</param>
    /// <param name="Greedy">The greedy continuation of <see cref="Prompt"/> (argmax at each step, no stop token).</param>
    public sealed record Reference(string MadeBy, string ModelType, long[] InputIds, float[][] Logits, long[] Prompt, long[] Greedy)
    {
        /// <summary><see cref="Logits"/> as a [N, V] tensor.</summary>
        public Tensor LogitsTensor() => tensor(Logits.SelectMany(r => r).ToArray(), [Logits.Length, Logits[0].Length]);
    }
}
