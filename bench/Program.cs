using System.Diagnostics;
using PromptLossWeight.Bench;
using PromptLossWeight.Llama.Runtime;
using TorchSharp;
using static TorchSharp.torch;

// dotnet run -c Release --project bench -- [memory] [time] [race] [train]   (no argument: all of them; CPU)
// dotnet run -c Release --project bench -- gpu [--tiny]                      (GPU; --tiny: tiny shapes, any device)

// On a shared machine, OpenMP threads that spin while waiting make every timing swing by up to 10x as soon as another
// process wants the cores. The benchmark therefore runs with OMP_WAIT_POLICY=PASSIVE (unless the caller set a policy):
// it must be set before libgomp loads, so the program restarts itself once with it.
if (Environment.GetEnvironmentVariable("OMP_WAIT_POLICY") is null)
    return SelfProcess.Rerun(args, new Dictionary<string, string> { ["OMP_WAIT_POLICY"] = "PASSIVE" });

if (args.Contains("--help") || args.Contains("-h"))
{
    Console.WriteLine("""
        usage: bench [memory] [time] [race] [train]     CPU benchmarks (none named: all four)
               bench gpu [--tiny]                       GPU benchmark with the PyTorch anchor; --tiny: tiny shapes, any device
          memory  peak memory of the chunked loss against full logits (child processes)
          time    loss forward+backward time, every token weighted
          race    loss time at PLW 0 on RACE-shaped masks
          train   training throughput of the library's Llama, padded against packed, and its MFU
          gpu     loss time and memory (logits path against chunked) and tokens/s of a 7B-shape LoRA and a 1B-shape full
                  fine-tuning step, bf16, 4x2048 tokens, with ratios to bench/anchor/pytorch_anchor.py
        """);
    return 0;
}
TorchRuntime.EnsureLoaded();
if (args.Length == 3 && args[0] == "--child" && args[1] == "loss-memory")
{
    LossBenchmarks.MemoryChild(args[2]);
    return 0;
}
if (args.Length >= 2 && args[0] == "--child" && args[1] == "gpu-loss")
{
    TorchRuntime.EnsureLoaded(DeviceType.CUDA);
    GpuBenchmarks.LossChild(args[2], args[3], tiny: false);
    return 0;
}
if (args.Length >= 2 && args[0] == "--child" && args[1] == "gpu-train")
{
    TorchRuntime.EnsureLoaded(DeviceType.CUDA);
    GpuBenchmarks.TrainChild(args[2], tiny: false);
    return 0;
}
if (args.Length > 0 && args[0] == "gpu")
{
    bool tiny = args.Contains("--tiny");
    if (!tiny) TorchRuntime.EnsureLoaded(DeviceType.CUDA);
    GpuBenchmarks.Run(tiny);
    return 0;
}

string[] known = ["memory", "time", "race", "train"];
string? unknown = args.FirstOrDefault(a => !known.Contains(a));
if (unknown is not null)
{
    Console.Error.WriteLine($"Unknown benchmark '{unknown}'; choose from: {string.Join(", ", known)} (none = all), or gpu [--tiny]; --help explains them.");
    return 2;
}
bool Selected(string name) => args.Length == 0 || args.Contains(name);

var total = Stopwatch.StartNew();
Report.Note($"machine: {Environment.ProcessorCount} logical cores, {get_num_threads()} torch threads, CPU backend, fp32, OMP_WAIT_POLICY={Environment.GetEnvironmentVariable("OMP_WAIT_POLICY")}");
if (Selected("memory")) LossBenchmarks.PeakMemoryRatio();
if (Selected("time")) LossBenchmarks.TimeRatio();
if (Selected("race")) LossBenchmarks.RacePlw0Ratio();
if (Selected("train")) TrainingBenchmarks.Run();
Report.Note($"total {total.Elapsed.TotalSeconds:0} s");
return 0;
