using PromptLossWeight.Loss;

namespace PromptLossWeight.Bench;

/// <summary>The loss benchmarks: peak memory and time of the chunked loss against full logits.</summary>
internal static class LossBenchmarks
{
    public const int Tokens = 4096, Vocabulary = 32000, Dim = 1024;
    public const int ChunkSize = ChunkedWeightedCrossEntropy.DefaultChunkSize;

    /// <summary>
    /// Peak memory: each variant runs in its own child process (so neither sees the other's heap), with glibc told to
    /// serve every allocation above 64 KiB by mmap (so freed tensors leave the resident set at once). The child records
    /// its resident size, resets the kernel's high-water mark, runs forward + backward once (after a small warm-up),
    /// and reports high-water mark − resident size before. Inputs (hidden, head) exist before the measurement in both.
    /// </summary>
    public static void PeakMemoryRatio()
    {
        if (!PeakMemory.Supported)
        {
            Report.Note("loss_peak_memory_chunked_over_naive not measured: needs Linux /proc/self/clear_refs");
            return;
        }
        long naive = RunChild("naive"), chunked = RunChild("chunked");
        Report.Note($"loss peak memory above inputs (child processes, /proc VmHWM): naive {naive / 1e6:0} MB, chunked {chunked / 1e6:0} MB " +
                    $"(T={Tokens}, V={Vocabulary}, D={Dim}, chunk {ChunkSize}, fp32, gradients of hidden and head included)");
        Report.Ratio("loss_peak_memory_chunked_over_naive", (double)chunked / naive);
    }

    /// <summary>The body of a memory child process; prints "peak_bytes N".</summary>
    public static void MemoryChild(string variant)
    {
        LossInputs small = LossInputs.Create(64, Vocabulary, Dim, null, seed: 2);
        LossInputs inputs = LossInputs.Create(Tokens, Vocabulary, Dim, null);
        Action<LossInputs> step = variant switch
        {
            "naive" => i => i.NaiveStep(),
            "chunked" => i => i.ChunkedStep(ChunkSize),
            _ => throw new ArgumentException($"Unknown loss variant '{variant}'; expected naive or chunked."),
        };
        step(small);                     // load kernels and thread pools outside the measurement
        small.ClearGradients();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long before = PeakMemory.ResidentBytes();
        PeakMemory.ResetPeak();
        step(inputs);
        long peak = PeakMemory.PeakBytes();
        Console.WriteLine($"peak_bytes {peak - before}");
    }

    private static long RunChild(string variant)
    {
        var (exitCode, output, errors) = SelfProcess.Capture(["--child", "loss-memory", variant],
            new Dictionary<string, string> { ["MALLOC_MMAP_THRESHOLD_"] = "65536" });
        string? line = output.Split('\n').FirstOrDefault(l => l.StartsWith("peak_bytes ", StringComparison.Ordinal));
        if (exitCode != 0 || line is null)
            throw new InvalidOperationException($"The {variant} memory child failed (exit {exitCode}): {output} {errors}");
        return long.Parse(line["peak_bytes ".Length..]);
    }

    /// <summary>Forward + backward time with every token weighted (chunked over naive).</summary>
    public static void TimeRatio()
    {
        LossInputs inputs = LossInputs.Create(Tokens, Vocabulary, Dim, null);
        var (naive, chunked) = Timing.Interleaved(
            () => { inputs.ClearGradients(); inputs.NaiveStep(); },
            () => { inputs.ClearGradients(); inputs.ChunkedStep(ChunkSize); },
            repetitions: 3);
        Report.Note($"loss fwd+bwd, all weights 1: naive {naive:0.000} s, chunked {chunked:0.000} s (medians of 3, interleaved, after a warm-up)");
        Report.Ratio("loss_time_chunked_over_naive", chunked / naive);
    }

    /// <summary>Forward + backward time at PLW = 0 on RACE-shaped masks (completion ≈ 1% of tokens): naive over chunked.</summary>
    public static void RacePlw0Ratio()
    {
        LossInputs inputs = LossInputs.Create(Tokens, Vocabulary, Dim, completionFraction: 0.01);
        var (naive, chunked) = Timing.Interleaved(
            () => { inputs.ClearGradients(); inputs.NaiveStep(); },
            () => { inputs.ClearGradients(); inputs.ChunkedStep(ChunkSize); },
            repetitions: 3);
        double weighted = inputs.Weights.sum().item<float>();
        Report.Note($"loss fwd+bwd, PLW=0, {weighted:0} of {Tokens} tokens weighted: naive {naive:0.000} s, chunked {chunked:0.000} s");
        Report.Ratio("loss_time_naive_over_chunked_plw0_race", naive / chunked);
    }
}
