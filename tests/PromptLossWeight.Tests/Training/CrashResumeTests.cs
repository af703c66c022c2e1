using System.Diagnostics;
using PromptLossWeight.IO;
using PromptLossWeight.Training;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace PromptLossWeight.Tests.Training;

public class CrashResumeTests(ITestOutputHelper output)
{
    internal const string ChildCommand = "train-tiny-run";
    private const string FinalFile = "final.safetensors";
    private const long Steps = 40;

    /// <summary>The child process: train (resuming from the newest complete checkpoint), printing each step, then save the final parameters.</summary>
    internal static int RunChild(string outputDirectory)
    {
        set_num_threads(1); // tiny tensors: one thread is fastest, and immune to other processes' load
        var model = new TinyCausalModel();
        var options = TrainerTestData.Options(outputDirectory) with
        {
            MaxSteps = Steps, EvalSteps = 3, SaveTotalLimit = 2, BatchSize = 3, GradientAccumulationSteps = 2, WarmupSteps = 4,
            LearningRateSchedule = LearningRateScheduleKind.Cosine, MaxGradNorm = 0.5, WeightDecay = 0.01,
            PromptLossWeightSchedule = PromptLossWeightSchedule.Cosine(1.0, 0.05, 30), ResumeFrom = TrainerOptions.Latest,
        };
        var trainer = new Trainer(model, options, TrainerTestData.Examples(20, seed: 30), TrainerTestData.Examples(6, seed: 31));
        trainer.Callbacks.Add(new LambdaCallback
        {
            StepEnd = (s, c) =>
            {
                Console.Out.WriteLine($"step {s.Step}");
                Console.Out.Flush();
                Thread.Sleep(20); // slows the run so the parent's kill lands near the step it chose
            },
        });
        trainer.Train();
        SafeTensors.Save(Path.Combine(outputDirectory, FinalFile),
            model.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter));
        Console.Out.WriteLine("done");
        return 0;
    }

    private Process StartChild(string outputDirectory)
    {
        string dotnet = Environment.ProcessPath is string host && Path.GetFileNameWithoutExtension(host) == "dotnet" ? host : "dotnet";
        var start = new ProcessStartInfo(dotnet) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string arg in new[] { "exec", typeof(CrashResumeTests).Assembly.Location, ChildCommand, outputDirectory }) start.ArgumentList.Add(arg);
        return Process.Start(start) ?? throw new InvalidOperationException("could not start the child process");
    }

    private void RunToCompletion(string outputDirectory)
    {
        using Process child = StartChild(outputDirectory);
        string stdout = child.StandardOutput.ReadToEnd();
        string stderr = child.StandardError.ReadToEnd();
        child.WaitForExit();
        child.ExitCode.Should().Be(0, $"the child run must succeed; stderr: {stderr}");
        stdout.Should().EndWith("done\n");
    }

    private static Dictionary<string, float[]> Final(string outputDirectory)
    {
        var tensors = SafeTensors.Load(Path.Combine(outputDirectory, FinalFile));
        var values = tensors.ToDictionary(kv => kv.Key, kv => kv.Value.data<float>().ToArray());
        foreach (Tensor t in tensors.Values) t.Dispose();
        return values;
    }

    [Fact]
    public void A_run_killed_with_SIGKILL_at_a_random_step_resumes_and_ends_with_the_parameters_of_an_uninterrupted_run()
    {
        using var uninterrupted = new TempDir();
        using var interrupted = new TempDir();
        RunToCompletion(uninterrupted.Path);

        // A random step, then a random delay, so the kill can land inside a step, an evaluation or a checkpoint save.
        int killAt = Random.Shared.Next(4, (int)Steps - 10);
        int delayMs = Random.Shared.Next(0, 40);
        output.WriteLine($"killing the child {delayMs} ms after it reports step {killAt}");
        using (Process child = StartChild(interrupted.Path))
        {
            string? line;
            while ((line = child.StandardOutput.ReadLine()) is not null && line != $"step {killAt}") { }
            line.Should().Be($"step {killAt}", "the child must reach the chosen step before it is killed");
            Thread.Sleep(delayMs);
            child.Kill(entireProcessTree: true); // SIGKILL: no finally blocks, no flushing
            child.WaitForExit();
        }
        File.Exists(Path.Combine(interrupted.Path, FinalFile)).Should().BeFalse("the killed run never finished");
        var before = TrainerCheckpoints.ListComplete(interrupted.Path);
        output.WriteLine($"complete checkpoints after the kill: {string.Join(", ", before.Select(c => c.Step))}");

        RunToCompletion(interrupted.Path);

        TrainerTestData.ShouldEqual(Final(interrupted.Path), Final(uninterrupted.Path), tolerance: 0);
        File.ReadAllText(Path.Combine(interrupted.Path, "metrics.csv")).Should().Be(File.ReadAllText(Path.Combine(uninterrupted.Path, "metrics.csv")));
    }
}
