using System.Diagnostics;
using System.Globalization;
using PromptLossWeight.Batching;
using PromptLossWeight.Llama.Lora;
using PromptLossWeight.Llama.Model;
using PromptLossWeight.Loss;
using PromptLossWeight.Masking;
using TorchSharp;
using static TorchSharp.torch;

namespace PromptLossWeight.Bench;

/// <summary>
/// The GPU benchmark (<c>bench -- gpu</c>): the weighted loss from hidden states (logits path against the chunked loss,
/// time and memory) and training steps of two shapes (Llama-2-7B with LoRA r=8 on q_proj/v_proj, Llama-3.2-1B with its
/// tied 128,256 vocabulary fully fine-tuned), all bf16, 4 × 2048 tokens a step, side by side with the PyTorch +
/// transformers + PEFT anchor (anchor/pytorch_anchor.py, run by this benchmark when python3 can import it). Each
/// measurement runs in a child process so that the CUDA caching allocator of one does not hide the memory of the next.
/// <c>--tiny</c> runs the same code with tiny shapes, in this process, on CUDA when present and otherwise on the CPU.
/// </summary>
internal static class GpuBenchmarks
{
    /// <summary>The shapes of one run.</summary>
    internal sealed record Plan(int LossTokens, int LossDim, int LossVocab, LlamaConfig Lora, LlamaConfig Full, int Rows, int RowLength, int Warmup, int Steps)
    {
        public static Plan Large => new(8192, 4096, 128_256,
            new LlamaConfig
            {
                HiddenSize = 4096, IntermediateSize = 11008, NumHiddenLayers = 32, NumAttentionHeads = 32, NumKeyValueHeads = 32,
                VocabSize = 32000, MaxPositionEmbeddings = 4096, RmsNormEps = 1e-5, RopeTheta = 10000, TorchDtype = "bfloat16",
            },
            new LlamaConfig
            {
                HiddenSize = 2048, IntermediateSize = 8192, NumHiddenLayers = 16, NumAttentionHeads = 32, NumKeyValueHeads = 8,
                VocabSize = 128_256, MaxPositionEmbeddings = 131_072, RmsNormEps = 1e-5, RopeTheta = 500_000, TieWordEmbeddings = true,
                TorchDtype = "bfloat16",
            },
            Rows: 4, RowLength: 2048, Warmup: 2, Steps: 5);

        public static Plan Tiny => new(256, 64, 1000,
            new LlamaConfig
            {
                HiddenSize = 64, IntermediateSize = 128, NumHiddenLayers = 2, NumAttentionHeads = 4, NumKeyValueHeads = 4,
                VocabSize = 1000, MaxPositionEmbeddings = 256, RmsNormEps = 1e-5, TorchDtype = "bfloat16",
            },
            new LlamaConfig
            {
                HiddenSize = 64, IntermediateSize = 128, NumHiddenLayers = 2, NumAttentionHeads = 4, NumKeyValueHeads = 2,
                VocabSize = 2000, MaxPositionEmbeddings = 256, RmsNormEps = 1e-5, TieWordEmbeddings = true, TorchDtype = "bfloat16",
            },
            Rows: 2, RowLength: 32, Warmup: 1, Steps: 2);
    }

    internal static readonly string[] LossVariants = ["logits", "chunked"];
    internal static readonly string[] WeightPatterns = ["all1", "plw0"];
    internal static readonly string[] TrainShapes = ["7b-lora", "1b-full"];

    /// <summary>Runs the whole GPU benchmark and prints its figures and ratios.</summary>
    public static void Run(bool tiny)
    {
        Device device = cuda.is_available() ? CUDA : CPU;
        if (!tiny && device.type != DeviceType.CUDA)
            throw new InvalidOperationException("bench gpu needs CUDA (torch.cuda.is_available() is false); `gpu --tiny` runs its code on tiny shapes anywhere. See the README's GPU section.");
        Plan plan = tiny ? Plan.Tiny : Plan.Large;
        Report.Note($"GPU bench{(tiny ? " (--tiny shapes, in process)" : string.Empty)} on {device}, bf16; loss T={plan.LossTokens}, D={plan.LossDim}, V={plan.LossVocab}; " +
                    $"training {plan.Rows}x{plan.RowLength} tokens a step, median of {plan.Steps} steps after {plan.Warmup} warm-up");

        var loss = new Dictionary<(string, string), (double Seconds, double Bytes)>();
        foreach (string pattern in WeightPatterns)
            foreach (string variant in LossVariants)
                loss[(variant, pattern)] = tiny ? LossChild(variant, pattern, tiny) : ParseChild(["--child", "gpu-loss", variant, pattern]);
        foreach (string pattern in WeightPatterns)
        {
            var (logits, chunked) = (loss[("logits", pattern)], loss[("chunked", pattern)]);
            string what = pattern == "all1" ? "all weights 1" : "PLW 0, 1% completion tokens";
            Report.Note($"loss fwd+bwd, {what}: logits path {logits.Seconds * 1e3:0.0} ms, {logits.Bytes / 1e9:0.00} GB; chunked {chunked.Seconds * 1e3:0.0} ms, {chunked.Bytes / 1e9:0.00} GB (memory beyond the inputs)");
            Report.Ratio($"gpu_loss_time_chunked_over_logits_{pattern}", chunked.Seconds / logits.Seconds);
            if (logits.Bytes > 0) Report.Ratio($"gpu_loss_memory_chunked_over_logits_{pattern}", chunked.Bytes / logits.Bytes);
        }

        Dictionary<string, double> anchor = Anchor(tiny);
        foreach (string shape in TrainShapes)
        {
            var (seconds, bytes) = tiny ? TrainChild(shape, tiny) : ParseChild(["--child", "gpu-train", shape]);
            double tokensPerSecond = plan.Rows * plan.RowLength / seconds;
            Report.Note($"{shape}: {seconds * 1e3:0} ms/step, {tokensPerSecond:0} tokens/s, {bytes / 1e9:0.0} GB");
            Report.Value($"gpu_{shape}_tokens_per_s", tokensPerSecond);
            if (anchor.TryGetValue($"{shape}_tokens_per_s", out double theirs))
            {
                Report.Ratio($"gpu_{shape}_tokens_per_s_over_pytorch", tokensPerSecond / theirs);
                if (anchor.TryGetValue($"{shape}_bytes", out double theirBytes) && theirBytes > 0 && bytes > 0)
                    Report.Ratio($"gpu_{shape}_memory_over_pytorch", bytes / theirBytes);
            }
        }
    }

    /// <summary>The body of a loss child: prints "seconds S" and "bytes B".</summary>
    public static (double Seconds, double Bytes) LossChild(string variant, string pattern, bool tiny)
    {
        Plan plan = tiny ? Plan.Tiny : Plan.Large;
        Device device = cuda.is_available() ? CUDA : CPU;
        using var scope = NewDisposeScope();
        var g = new Generator(1);
        Tensor hidden = randn([1, plan.LossTokens, plan.LossDim], generator: g).to(ScalarType.BFloat16).to(device).requires_grad_();
        Tensor head = (randn([plan.LossVocab, plan.LossDim], generator: g) * 0.02).to(ScalarType.BFloat16).to(device).requires_grad_();
        Tensor labels = randint(0, plan.LossVocab, [1, plan.LossTokens], generator: g, dtype: ScalarType.Int64).to(device);
        Tensor weights = pattern == "all1"
            ? ones([1, plan.LossTokens], device: device)
            : (arange(plan.LossTokens) % 100).eq(99).to(ScalarType.Float32).unsqueeze(0).to(device); // 1% of the tokens
        void Step()
        {
            using var stepScope = NewDisposeScope();
            hidden.grad = null;
            head.grad = null;
            Tensor value = variant == "chunked"
                ? ChunkedWeightedCrossEntropy.Compute(hidden, head, labels, weights)
                : WeightedCrossEntropy.Compute(hidden.matmul(head.t()), labels, weights);
            value.backward();
            Synchronize(device);
        }
        long before = UsedBytes(device);
        Step();                                             // warm-up; its cached blocks are the step's peak
        double bytes = UsedBytes(device) - before;
        var times = new List<double>();
        for (int i = 0; i < (tiny ? 2 : 5); i++) times.Add(Timing.Seconds(Step));
        return Print(Timing.Median(times), bytes);
    }

    /// <summary>The body of a training child: builds the shape, trains, prints "seconds S" (median step) and "bytes B".</summary>
    public static (double Seconds, double Bytes) TrainChild(string shape, bool tiny)
    {
        Plan plan = tiny ? Plan.Tiny : Plan.Large;
        Device device = cuda.is_available() ? CUDA : CPU;
        bool lora = shape == "7b-lora";
        long before = UsedBytes(device);
        using var model = new LlamaForCausalLM(lora ? plan.Lora : plan.Full, device, ScalarType.BFloat16, initialize: false);
        using (no_grad())
        {
            manual_seed(0);
            foreach (var (name, p) in model.named_parameters())
                if (name.EndsWith("norm.weight", StringComparison.Ordinal)) p.fill_(1.0);
                else p.normal_(0, 0.02);
        }
        IEnumerable<TorchSharp.Modules.Parameter> trainable = lora
            ? LoraAdapter.Inject(model, new LoraConfig { R = 8, Alpha = 16, Dropout = 0, TargetModules = ["q_proj", "v_proj"] }).TrainableParameters().Select(p => p.Parameter)
            : model.parameters();
        var optimizer = optim.AdamW(trainable, lr: 1e-5);
        var loss = new ChunkedWeightedCrossEntropy();
        var random = new Random(5);
        var examples = Enumerable.Range(0, plan.Rows).Select(_ =>
        {
            long[] ids = Enumerable.Range(0, plan.RowLength).Select(_ => (long)random.Next(3, model.Config.VocabSize)).ToArray();
            return new MaskedExample(ids, ids.Select(_ => TokenRole.Assistant).ToArray());
        }).ToList();
        using Batch batch = PaddingCollator.Pad(examples, padId: 0, device: device);
        void Step()
        {
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            Tensor value = loss.Compute(model, batch, batch.Weights(1.0));
            value.backward();
            optimizer.step();
            Synchronize(device);
        }
        for (int i = 0; i < plan.Warmup; i++) Step();
        var times = new List<double>();
        for (int i = 0; i < plan.Steps; i++) times.Add(Timing.Seconds(Step));
        double bytes = UsedBytes(device) - before;
        return Print(Timing.Median(times), bytes);
    }

    private static (double Seconds, double Bytes) Print(double seconds, double bytes)
    {
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"seconds {seconds}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"bytes {bytes}"));
        return (seconds, bytes);
    }

    private static (double Seconds, double Bytes) ParseChild(string[] args)
    {
        var (exitCode, output, errors) = SelfProcess.Capture(args, new Dictionary<string, string>());
        double Read(string key) => output.Split('\n').Where(l => l.StartsWith(key + " ", StringComparison.Ordinal))
            .Select(l => double.Parse(l[(key.Length + 1)..], CultureInfo.InvariantCulture)).DefaultIfEmpty(double.NaN).First();
        if (exitCode != 0 || double.IsNaN(Read("seconds")))
            throw new InvalidOperationException($"The child '{string.Join(' ', args)}' failed (exit {exitCode}): {output} {errors}");
        return (Read("seconds"), Read("bytes"));
    }

    private static void Synchronize(Device device)
    {
        if (device.type == DeviceType.CUDA) cuda.synchronize();
    }

    /// <summary>GPU memory in use (NVML) on CUDA; on the CPU (--tiny) nothing is measured (0).</summary>
    private static long UsedBytes(Device device) => device.type == DeviceType.CUDA ? GpuMemory.UsedBytes() : 0;

    /// <summary>
    /// Runs anchor/pytorch_anchor.py (beside this program) with python3 and reads its "value NAME X" lines; an empty
    /// result, with a note, when python3 cannot run it (no PyTorch, transformers or PEFT).
    /// </summary>
    private static Dictionary<string, double> Anchor(bool tiny)
    {
        var values = new Dictionary<string, double>(StringComparer.Ordinal);
        string script = Path.Combine(AppContext.BaseDirectory, "anchor", "pytorch_anchor.py");
        var start = new ProcessStartInfo("python3") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(script);
        if (tiny) start.ArgumentList.Add("--tiny");
        try
        {
            using Process process = Process.Start(start)!;
            Task<string> errors = process.StandardError.ReadToEndAsync();
            string output = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            foreach (string line in output.Split('\n'))
            {
                if (line.StartsWith('#')) Console.WriteLine("# anchor: " + line.TrimStart('#', ' '));
                string[] parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (parts.Length == 3 && parts[0] == "value" && double.TryParse(parts[2], CultureInfo.InvariantCulture, out double v))
                    values[parts[1]] = v;
            }
            if (process.ExitCode != 0)
                Report.Note($"PyTorch anchor not measured: {script} exited with {process.ExitCode}: {errors.Result.Trim().Split('\n').LastOrDefault()}");
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            Report.Note($"PyTorch anchor not measured: python3 could not be started ({ex.Message})");
        }
        return values;
    }
}
