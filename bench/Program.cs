using System.Diagnostics;
using PromptLossWeight.Bench;
using PromptLossWeight.Runtime;
using static TorchSharp.torch;

// dotnet run -c Release --project bench [memory] [time] [race] [train]   (no argument: all of them)
TorchRuntime.EnsureLoaded();
if (args.Length == 3 && args[0] == "--child" && args[1] == "loss-memory")
{
    LossBenchmarks.MemoryChild(args[2]);
    return 0;
}

string[] known = ["memory", "time", "race", "train"];
string? unknown = args.FirstOrDefault(a => !known.Contains(a));
if (unknown is not null)
{
    Console.Error.WriteLine($"Unknown benchmark '{unknown}'; choose from: {string.Join(", ", known)} (none = all).");
    return 2;
}
bool Selected(string name) => args.Length == 0 || args.Contains(name);

var total = Stopwatch.StartNew();
Report.Note($"machine: {Environment.ProcessorCount} logical cores, {get_num_threads()} torch threads, CPU backend, fp32");
if (Selected("memory")) LossBenchmarks.PeakMemoryRatio();
if (Selected("time")) LossBenchmarks.TimeRatio();
if (Selected("race")) LossBenchmarks.RacePlw0Ratio();
if (Selected("train")) TrainingBenchmarks.Run();
Report.Note($"total {total.Elapsed.TotalSeconds:0} s");
return 0;
