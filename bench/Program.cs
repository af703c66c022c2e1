using System.Diagnostics;
using PromptLossWeight.Bench;
using PromptLossWeight.Runtime;
using static TorchSharp.torch;

// dotnet run -c Release --project bench [memory] [time] [race] [train]   (no argument: all of them)

// On a shared machine, OpenMP threads that spin while waiting make every timing swing by up to 10x as soon as another
// process wants the cores. The benchmark therefore runs with OMP_WAIT_POLICY=PASSIVE (unless the caller set a policy):
// it must be set before libgomp loads, so the program restarts itself once with it.
if (Environment.GetEnvironmentVariable("OMP_WAIT_POLICY") is null)
    return SelfProcess.Rerun(args, new Dictionary<string, string> { ["OMP_WAIT_POLICY"] = "PASSIVE" });

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
Report.Note($"machine: {Environment.ProcessorCount} logical cores, {get_num_threads()} torch threads, CPU backend, fp32, OMP_WAIT_POLICY={Environment.GetEnvironmentVariable("OMP_WAIT_POLICY")}");
if (Selected("memory")) LossBenchmarks.PeakMemoryRatio();
if (Selected("time")) LossBenchmarks.TimeRatio();
if (Selected("race")) LossBenchmarks.RacePlw0Ratio();
if (Selected("train")) TrainingBenchmarks.Run();
Report.Note($"total {total.Elapsed.TotalSeconds:0} s");
return 0;
