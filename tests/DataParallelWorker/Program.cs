// Trains a tiny Llama with PLW 0.1 and packing, alone or as one rank of a data-parallel run, and writes what the tests
// compare: the final parameters and the metric history, per rank. Faults can be injected on one rank at one step.
//
//   dotnet DataParallelWorker.dll --output DIR [--world-size-of-reference N] [--distributed] [--steps S] [--stop-at K]
//       [--resume] [--fail-rank R|-2 (every rank) --fail-step K] [--stall-rank R --stall-step K] [--device cpu|cuda] [--backend mpi|nccl]
using System.Globalization;
using PromptLossWeight.Batching;
using PromptLossWeight.Distributed;
using PromptLossWeight.Evaluation;
using PromptLossWeight.IO;
using PromptLossWeight.Llama.Model;
using PromptLossWeight.Loss;
using PromptLossWeight.Masking;
using PromptLossWeight.Models;
using PromptLossWeight.Llama.Runtime;
using PromptLossWeight.Training;
using TorchSharp;
using static TorchSharp.torch;

var arguments = new Dictionary<string, string>(StringComparer.Ordinal);
for (int i = 0; i < args.Length; i++)
{
    if (!args[i].StartsWith("--", StringComparison.Ordinal)) return Fail($"unexpected argument '{args[i]}'");
    bool flag = i + 1 >= args.Length || args[i + 1].StartsWith("--", StringComparison.Ordinal);
    arguments[args[i][2..]] = flag ? "true" : args[++i];
}
string Get(string name, string fallback) => arguments.TryGetValue(name, out string? v) ? v : fallback;
int Int(string name, int fallback) => int.Parse(Get(name, fallback.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);

DistributedContext? distributed = null;
try
{
    bool cuda = Get("device", "cpu") == "cuda";
    TorchRuntime.EnsureLoaded(cuda ? DeviceType.CUDA : DeviceType.CPU);
    set_num_threads(1);
    if (arguments.ContainsKey("distributed"))
        distributed = DistributedContext.FromEnvironment(Get("backend", "mpi") == "nccl" ? DistributedBackend.Nccl : DistributedBackend.Mpi,
            arguments.ContainsKey("timeout") ? TimeSpan.FromSeconds(Int("timeout", 30)) : null);
    int rank = distributed?.Rank ?? 0;
    // The reference run is one process with the accumulation of N ranks: the same micro-batches in one step.
    int accumulation = Int("accumulation", 1) * (distributed is null ? Int("world-size-of-reference", 1) : 1);
    Device device = cuda ? (distributed?.Device ?? new Device(DeviceType.CUDA, 0)) : CPU;

    var config = new LlamaConfig
    {
        HiddenSize = 32, IntermediateSize = 64, NumHiddenLayers = 2, NumAttentionHeads = 4, NumKeyValueHeads = 2,
        RmsNormEps = 1e-5, RopeTheta = 10000, VocabSize = 64, MaxPositionEmbeddings = 128, BosTokenId = 1, EosTokenIds = [2],
        TorchDtype = "float32",
    };
    // Every rank builds its model from its own seed: the trainer must broadcast rank 0's parameters.
    using var model = new LlamaForCausalLM(config, CPU, ScalarType.Float32).InitializeWeights(7 + rank, std: 0.2);
    var options = new TrainerOptions
    {
        OutputDirectory = Get("output", ""),
        PromptLossWeight = 0.1,
        PackedRowLength = 24,
        BatchSize = 2,
        EvalBatchSize = 3,
        GradientAccumulationSteps = accumulation,
        LearningRate = 5e-3,
        WarmupSteps = 2,
        MaxSteps = Int("steps", 6),
        EvalSteps = 3,
        LoggingSteps = 1,
        PadTokenId = 0,
        Device = device,
        Seed = 5,
        ResumeFrom = arguments.ContainsKey("resume") ? TrainerOptions.Latest : null,
        Distributed = distributed,
        ConsoleProgress = true,
    };
    using var trainer = new RecordingTrainer(model, options, Examples(40, seed: 11), Examples(10, seed: 12));
    trainer.Callbacks.Add(new Faults(rank, Int("fail-rank", -1), Int("fail-step", -1), Int("stall-rank", -1), Int("stall-step", -1), Int("stop-at", -1)));
    TrainResult result = trainer.Train();

    using var scope = NewDisposeScope();
    var parameters = model.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter.detach().cpu(), StringComparer.Ordinal);
    Directory.CreateDirectory(Get("result", options.OutputDirectory));
    SafeTensors.Save(Path.Combine(Get("result", options.OutputDirectory), $"parameters-rank{rank}.safetensors"), parameters);
    File.WriteAllText(Path.Combine(Get("result", options.OutputDirectory), $"state-rank{rank}.json"), result.State.ToJson());
    Console.WriteLine($"rank {rank}: trained to step {result.State.Step} ({result.StopReason})");
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"rank {rank}: first step weight sum {trainer.FirstStepWeightSum:R} normaliser {trainer.FirstStepNormalizer:R}"));
    distributed?.Dispose();
    return 0;
}
catch (Exception error)
{
    // One line, as a user's program would print it; the process then ends without waiting for anyone.
    Console.Error.WriteLine($"error on rank {distributed?.Rank.ToString(CultureInfo.InvariantCulture) ?? "-"}: {error.Message}");
    return 1;
}

static int Fail(string message)
{
    Console.Error.WriteLine("error: " + message);
    return 2;
}

// Examples with prompts and completions of varying lengths, so that each micro-batch (and so each rank) has its own Σw.
static IReadOnlyList<MaskedExample> Examples(int count, int seed)
{
    var random = new Random(seed);
    var list = new List<MaskedExample>();
    for (int e = 0; e < count; e++)
    {
        long[] prompt = Enumerable.Range(0, 2 + random.Next(9)).Select(_ => (long)random.Next(3, 64)).ToArray();
        long[] completion = [.. prompt.Reverse().Take(1 + random.Next(prompt.Length)), 2];
        long[] ids = [1, .. prompt, .. completion];
        TokenRole[] roles = [.. Enumerable.Repeat(TokenRole.User, 1 + prompt.Length), .. Enumerable.Repeat(TokenRole.Assistant, completion.Length)];
        list.Add(new MaskedExample(ids, roles));
    }
    return list;
}

/// <summary>The trainer, recording this rank's Σw (of the predicted tokens) and the step's normaliser at the first step it trains.</summary>
sealed class RecordingTrainer(ICausalLanguageModel model, TrainerOptions options, IReadOnlyList<MaskedExample> train, IReadOnlyList<MaskedExample> eval)
    : Trainer(model, options, train, eval)
{
    private long? _step;

    public double FirstStepWeightSum { get; private set; }

    public double FirstStepNormalizer { get; private set; } = double.NaN;

    protected override Tensor ComputeLoss(ICausalLanguageModel model, Batch batch, Tensor weights, double normalizer)
    {
        _step ??= State.Step;
        if (State.Step == _step)
        {
            FirstStepWeightSum += WeightedCrossEntropy.Normalizer(batch.Labels, weights, Options.Loss.Normalization);
            FirstStepNormalizer = normalizer;
        }
        return base.ComputeLoss(model, batch, weights, normalizer);
    }
}

/// <summary>Injected faults: an exception or a long stall on one rank at one step, or a stop requested on rank 0 only.</summary>
sealed class Faults(int rank, int failRank, int failStep, int stallRank, int stallStep, int stopAt) : TrainerCallback
{
    public const int EveryRank = -2; // --fail-rank -2: every rank fails at the same step


    public override void OnStepEnd(TrainerState state, TrainerControl control)
    {
        if ((rank == failRank || failRank == EveryRank) && state.Step == failStep) throw new InvalidOperationException($"injected failure at step {failStep}");
        if (rank == stallRank && state.Step == stallStep) Thread.Sleep(TimeSpan.FromMinutes(2));
        if (rank == 0 && state.Step == stopAt) control.RequestStop($"stop requested at step {stopAt}");
    }
}
