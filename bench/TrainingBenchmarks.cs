using PromptLossWeight.Batching;
using PromptLossWeight.Llama.Model;
using PromptLossWeight.Models;
using PromptLossWeight.Loss;
using PromptLossWeight.Masking;
using TorchSharp;
using static TorchSharp.torch;

namespace PromptLossWeight.Bench;

/// <summary>
/// Training throughput of a small Llama on RACE-shaped data, padded against packed, and the model FLOP utilisation of
/// a training step against the fp32 matmul peak measured in the same run.
/// </summary>
internal static class TrainingBenchmarks
{
    private const int Vocabulary = 4000, Dim = 384, Layers = 6, Heads = 6, Hidden = 1024, MaxPositions = 1024;
    private const int Examples = 1000, MinLength = 250, MaxLength = 700, CompletionLength = 2;
    private const int RowLength = 1024, PackedRowsPerBatch = 4, PaddedExamplesPerBatch = 8, MeasuredSteps = 6;
    private const double Plw = 0.1;

    /// <summary>The library's Llama with this shape (fp32, CPU, untied head).</summary>
    private static LlamaConfig LlamaShape => new()
    {
        HiddenSize = Dim, IntermediateSize = Hidden, NumHiddenLayers = Layers, NumAttentionHeads = Heads,
        NumKeyValueHeads = Heads, VocabSize = Vocabulary, MaxPositionEmbeddings = MaxPositions, RmsNormEps = 1e-5,
    };

    /// <summary>Parameters of the matmuls in the transformer blocks (attention q, k, v, o and the SwiGLU MLP).</summary>
    private const long BlockMatmulParameters = (long)Layers * (4L * Dim * Dim + 3L * Dim * Hidden);

    /// <summary>Parameters of the LM head.</summary>
    private const long HeadParameters = (long)Vocabulary * Dim;

    public static void Run()
    {
        List<MaskedExample> examples = RaceShapedExamples(seed: 7);
        PackingPlan plan = PackingPlanner.BestFitDecreasing(examples.Select(e => e.Length).ToArray(), RowLength);
        Report.Note($"packing: {examples.Count} RACE-shaped examples ({MinLength}-{MaxLength} tokens) into {plan.Rows.Count} rows of {RowLength} by best-fit decreasing");
        Report.Value("packing_efficiency", plan.Efficiency);

        var random = new Random(11);
        int[] exampleOrder = Enumerable.Range(0, examples.Count).OrderBy(_ => random.Next()).ToArray();
        var shuffledRows = new PackingPlan(plan.Rows.OrderBy(_ => random.Next()).ToArray(), plan.RowLength, plan.RealTokens);

        // The library's Llama: causal attention within each document of a packed row (DocumentSpans).
        manual_seed(3);
        var llama = new LlamaForCausalLM(LlamaShape, CPU, ScalarType.Float32);
        var (llamaRatio, llamaMfu) = Measure("library Llama (per-document attention)", llama, examples, exampleOrder, shuffledRows);
        Report.Ratio("train_tokens_per_s_packed_over_padded", llamaRatio);
        Report.Value("mfu_train_step", llamaMfu);
    }

    /// <summary>Alternating padded and packed training steps; returns the packed/padded throughput ratio and the MFU.</summary>
    private static (double Ratio, double Mfu) Measure(string name, IHiddenStateLanguageModel model, List<MaskedExample> examples, int[] exampleOrder, PackingPlan shuffledRows)
    {
        var optimizer = optim.AdamW(model.Module.parameters(), lr: 1e-4);
        var loss = new ChunkedWeightedCrossEntropy();

        // Padded and packed steps alternate (the order flips every pair) so that load from other processes hits both
        // alike; each figure is a median over the measured steps.
        var paddedRates = new List<double>();
        var packedRates = new List<double>();
        var pairRatios = new List<double>();
        var packedFlopRates = new List<double>();
        var peaks = new List<double> { MatmulPeak() };
        for (int step = 0; step <= MeasuredSteps; step++)   // step 0 warms both variants up
        {
            var padded = exampleOrder.Skip(step * PaddedExamplesPerBatch).Take(PaddedExamplesPerBatch).Select(i => examples[i]).ToList();
            var rows = Enumerable.Range(step * PackedRowsPerBatch, PackedRowsPerBatch).Select(r => shuffledRows.Rows[r]).ToList();
            double paddedRate = 0, packedRate = 0;
            void RunPadded()
            {
                using Batch batch = PaddingCollator.Pad(padded);
                paddedRate = padded.Sum(e => e.Length) / Timing.Seconds(() => TrainStep(model, optimizer, loss, batch));
            }
            void RunPacked()
            {
                using Batch batch = PackingCollator.Collate(examples, shuffledRows, step * PackedRowsPerBatch, PackedRowsPerBatch);
                double seconds = Timing.Seconds(() => TrainStep(model, optimizer, loss, batch));
                var lengths = rows.SelectMany(r => r).Select(i => examples[i].Length).ToList();
                packedRate = lengths.Sum() / seconds;
                if (step > 0) packedFlopRates.Add(StepFlops(lengths) / seconds);
            }
            if (step % 2 == 0) { RunPadded(); RunPacked(); } else { RunPacked(); RunPadded(); }
            if (Environment.GetEnvironmentVariable("BENCH_VERBOSE") == "1") Report.Note($"step {step}: padded {paddedRate:0} packed {packedRate:0} tokens/s");
            if (step == 0) continue;
            paddedRates.Add(paddedRate);
            packedRates.Add(packedRate);
            pairRatios.Add(packedRate / paddedRate);
            if (step == MeasuredSteps / 2) peaks.Add(MatmulPeak());
        }
        peaks.Add(MatmulPeak());

        double peak = peaks.Max();
        Report.Note($"{name} (d={Dim}, {Layers} layers, {Heads} heads, MLP {Hidden}, V={Vocabulary}), AdamW, chunked loss, PLW {Plw}; " +
                    $"{MeasuredSteps} measured step pairs after a warm-up: padded ({PaddedExamplesPerBatch} examples/batch) {Timing.Median(paddedRates):0} tokens/s, " +
                    $"packed ({PackedRowsPerBatch}x{RowLength} rows/batch) {Timing.Median(packedRates):0} tokens/s (real tokens; medians)");
        // Best step against best matmul: both are what the machine does when other processes leave it alone.
        double achieved = packedFlopRates.Max();
        Report.Note($"{name}, training step (packed): best {achieved / 1e9:0.0} GFLOP/s, median {Timing.Median(packedFlopRates) / 1e9:0.0} GFLOP/s of model FLOPs " +
                    $"(6 x matmul params x real tokens + causal attention pairs; forward + backward + AdamW); fp32 matmul peak {peak / 1e9:0.0} GFLOP/s " +
                    $"(2048^3 matmul, best of 5, highest of {peaks.Count} measurements spread over this benchmark)");
        return (Timing.Median(pairRatios), achieved / peak);
    }

    private static void TrainStep(IHiddenStateLanguageModel model, optim.Optimizer optimizer, IWeightedLoss loss, Batch batch)
    {
        using var scope = NewDisposeScope();
        optimizer.zero_grad();
        Tensor value = loss.Compute(model, batch, batch.Weights(Plw));
        value.backward();
        optimizer.step();
    }

    /// <summary>
    /// Model FLOPs of one training step (forward + backward = 3 × forward) over documents of the given lengths:
    /// 2 FLOPs per multiply-add of every block matmul and of the LM head for each real token (the head projects every
    /// real token but the first of each document at PLW &gt; 0), plus causal attention (QKᵀ and AV over the s(s+1)/2
    /// visible pairs of a document of length s, per layer).
    /// </summary>
    private static double StepFlops(IEnumerable<int> documentLengths)
    {
        double flops = 0;
        foreach (int s in documentLengths)
        {
            flops += 6.0 * BlockMatmulParameters * s;
            flops += 6.0 * HeadParameters * (s - 1);
            flops += 3.0 * Layers * 2 * 2.0 * Dim * (s * (s + 1) / 2.0);
        }
        return flops;
    }

    /// <summary>FLOP/s of a 2048 × 2048 × 2048 fp32 matmul, best of 5 after a warm-up.</summary>
    private static double MatmulPeak()
    {
        using var scope = NewDisposeScope();
        Tensor a = randn(2048, 2048), b = randn(2048, 2048);
        a.matmul(b).Dispose();
        double best = double.MaxValue;
        for (int i = 0; i < 5; i++) best = Math.Min(best, Timing.Seconds(() => a.matmul(b).Dispose()));
        return 2.0 * 2048 * 2048 * 2048 / best;
    }

    private static List<MaskedExample> RaceShapedExamples(int seed)
    {
        var random = new Random(seed);
        var examples = new List<MaskedExample>(Examples);
        for (int e = 0; e < Examples; e++)
        {
            int length = random.Next(MinLength, MaxLength + 1);
            long[] ids = Enumerable.Range(0, length).Select(_ => (long)random.Next(1, Vocabulary)).ToArray();
            TokenRole[] roles = Enumerable.Range(0, length).Select(i => i >= length - CompletionLength ? TokenRole.Assistant : TokenRole.User).ToArray();
            examples.Add(new MaskedExample(ids, roles));
        }
        return examples;
    }
}
