using System.Globalization;
using PromptLossWeight.IO;
using PromptLossWeight.Llama.Tests.Support;
using PromptLossWeight.Training;
using static TorchSharp.torch;

namespace PromptLossWeight.Llama.Tests.Distributed;

/// <summary>
/// Data-parallel training with MPI: <c>mpirun -np 2</c> ranks of tests/DataParallelWorker train a tiny Llama with PLW 0.1
/// and packing (each rank's model starts from its own seed, so rank 0's parameters must be broadcast), against one process
/// with the accumulation of both ranks. Skipped, with the reason, where Open MPI is not installed.
/// </summary>
[Collection(nameof(DataParallelCollection))]
public class DataParallelTests
{
    [SkippableFact]
    public void Two_ranks_end_with_the_parameters_and_metrics_of_one_process_with_their_combined_batch_although_their_weights_differ()
    {
        Skip.If(WorkerProcess.MpirunMissing is not null, WorkerProcess.MpirunMissing);
        string single = Tiny.TempDir(), parallel = Tiny.TempDir();

        WorkerRun alone = WorkerProcess.Alone(null, "--output", single, "--world-size-of-reference", "2");
        WorkerRun ranks = WorkerProcess.Mpirun(2, "--output", parallel, "--distributed");

        alone.ExitCode.Should().Be(0, alone.Output);
        ranks.ExitCode.Should().Be(0, ranks.Output);
        // Each rank's micro-batches carry a different Σw; both divide by the step's Σw over the two ranks.
        var (sum0, normalizer0) = FirstStepWeights(ranks, rank: 0);
        var (sum1, normalizer1) = FirstStepWeights(ranks, rank: 1);
        sum0.Should().NotBeApproximately(sum1, 0.5, "the test needs unequal Σw per rank");
        normalizer0.Should().Be(normalizer1);
        normalizer0.Should().BeApproximately(sum0 + sum1, 1e-4);
        FirstStepWeights(alone, rank: 0).Normalizer.Should().BeApproximately(normalizer0, 1e-9, "one process sees the same step");

        MaxDifference(Path.Combine(parallel, "parameters-rank0.safetensors"), Path.Combine(single, "parameters-rank0.safetensors"))
            .Should().BeLessThan(1e-6, "two ranks with batch b give one process's update with batch 2b");
        MaxDifference(Path.Combine(parallel, "parameters-rank1.safetensors"), Path.Combine(parallel, "parameters-rank0.safetensors"))
            .Should().Be(0, "every rank holds the same parameters");
        TrainerState reference = State(single, 0), rank0 = State(parallel, 0), rank1 = State(parallel, 1);
        rank0.Step.Should().Be(6);
        rank0.History.Should().HaveCount(2);
        foreach (TrainerState state in new[] { rank0, rank1 })
            for (int i = 0; i < reference.History.Count; i++)
                foreach (var (name, value) in reference.History[i].Metrics)
                    state.History[i].Metrics[name].Should().BeApproximately(value, 1e-6, $"{name} at evaluation {i}: the ranks' statistics are summed before the metrics");
        Directory.EnumerateDirectories(parallel, "checkpoint-*").Select(Path.GetFileName).Should().BeEquivalentTo(["checkpoint-3", "checkpoint-6"], "rank 0 alone writes checkpoints");
    }

    [SkippableFact]
    public void A_two_rank_run_stopped_by_rank_0_and_resumed_ends_where_an_uninterrupted_one_ends()
    {
        Skip.If(WorkerProcess.MpirunMissing is not null, WorkerProcess.MpirunMissing);
        string uninterrupted = Tiny.TempDir(), resumed = Tiny.TempDir();

        WorkerRun whole = WorkerProcess.Mpirun(2, "--output", uninterrupted, "--distributed");
        // Only rank 0's callback asks to stop at step 3; rank 1 must stop with it (the ranks agree on every request).
        WorkerRun first = WorkerProcess.Mpirun(2, "--output", resumed, "--distributed", "--stop-at", "3");
        WorkerRun second = WorkerProcess.Mpirun(2, "--output", resumed, "--distributed", "--resume");

        whole.ExitCode.Should().Be(0, whole.Output);
        first.ExitCode.Should().Be(0, first.Output);
        first.Lines("rank 1: trained to step").Should().ContainSingle().Which.Should().Contain("step 3");
        second.ExitCode.Should().Be(0, second.Output);
        second.Output.Should().Contain("Resumed from").And.Contain("checkpoint-3");
        for (int rank = 0; rank < 2; rank++)
            MaxDifference(Path.Combine(resumed, $"parameters-rank{rank}.safetensors"), Path.Combine(uninterrupted, "parameters-rank0.safetensors"))
                .Should().BeLessThan(1e-6, $"rank {rank} resumed from rank 0's checkpoint");
    }

    [SkippableFact]
    public void A_rank_that_fails_ends_the_other_with_an_error_naming_it_instead_of_a_hang()
    {
        Skip.If(WorkerProcess.MpirunMissing is not null, WorkerProcess.MpirunMissing);

        WorkerRun run = WorkerProcess.Mpirun(2, "--output", Tiny.TempDir(), "--distributed", "--fail-rank", "1", "--fail-step", "2");

        run.ExitCode.Should().NotBe(0);
        run.Output.Should().Contain("error on rank 1: injected failure at step 2");
        run.Lines("error on rank 0:").Should().ContainSingle()
            .Which.Should().Contain("rank 1 failed: InvalidOperationException: injected failure at step 2");
        run.ShowsStackTrace.Should().BeFalse();
        run.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(90), "the notice arrives at once, not at the timeout");
    }

    [SkippableFact]
    public void Every_rank_failing_at_once_ends_the_run_promptly_each_with_its_own_error()
    {
        Skip.If(WorkerProcess.MpirunMissing is not null, WorkerProcess.MpirunMissing);

        WorkerRun run = WorkerProcess.Mpirun(2, "--output", Tiny.TempDir(), "--distributed", "--fail-rank", "-2", "--fail-step", "2");

        run.ExitCode.Should().NotBe(0);
        run.Lines("error on rank 0:").Should().ContainSingle().Which.Should().Contain("injected failure at step 2");
        run.Lines("error on rank 1:").Should().ContainSingle().Which.Should().Contain("injected failure at step 2");
        run.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(25), "each rank answers the other's notice while it waits for its own to be read");
    }

    [SkippableFact]
    public void A_rank_that_stalls_makes_the_other_give_up_at_the_timeout_naming_the_collective()
    {
        Skip.If(WorkerProcess.MpirunMissing is not null, WorkerProcess.MpirunMissing);

        WorkerRun run = WorkerProcess.Mpirun(2, "--output", Tiny.TempDir(), "--distributed", "--stall-rank", "1", "--stall-step", "2", "--timeout", "3");

        run.ExitCode.Should().NotBe(0);
        run.Lines("error on rank 0:").Should().ContainSingle()
            .Which.Should().Contain("at step 2 did not complete within 3 s").And.Contain("another rank stopped or is stuck");
        run.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(100), "rank 1 sleeps two minutes; rank 0 must not wait for it");
    }

    [SkippableFact]
    public void A_process_told_it_is_one_of_two_but_started_without_mpirun_stops_with_one_line_saying_so()
    {
        Skip.If(WorkerProcess.MpirunMissing is not null, WorkerProcess.MpirunMissing);

        WorkerRun run = WorkerProcess.Alone(new Dictionary<string, string> { ["WORLD_SIZE"] = "2" }, "--output", Tiny.TempDir(), "--distributed");

        run.ExitCode.Should().Be(1);
        run.Lines("error on rank").Should().ContainSingle()
            .Which.Should().Contain("The launcher says 2 processes but MPI started 1").And.Contain("mpirun");
        run.ShowsStackTrace.Should().BeFalse();
    }

    [SkippableFact]
    public void Asking_for_NCCL_without_CUDA_stops_with_one_line_that_points_to_MPI()
    {
        Skip.If(cuda.is_available(), "this machine has CUDA (the NCCL test in Cuda/ runs instead)");

        WorkerRun run = WorkerProcess.Alone(new Dictionary<string, string> { ["RANK"] = "0", ["WORLD_SIZE"] = "1" },
            "--output", Tiny.TempDir(), "--distributed", "--backend", "nccl");

        run.ExitCode.Should().Be(1);
        run.Lines("error on rank").Should().ContainSingle().Which.Should().Contain("The NCCL backend needs CUDA").And.Contain("DistributedBackend.Mpi");
    }

    private static (double Sum, double Normalizer) FirstStepWeights(WorkerRun run, int rank)
    {
        string line = run.Lines($"rank {rank}: first step weight sum").Should().ContainSingle().Subject;
        string[] words = line.Split(' ');
        return (double.Parse(words[6], CultureInfo.InvariantCulture), double.Parse(words[8], CultureInfo.InvariantCulture));
    }

    private static TrainerState State(string folder, int rank) => TrainerState.FromJson(File.ReadAllText(Path.Combine(folder, $"state-rank{rank}.json")));

    private static double MaxDifference(string actualPath, string expectedPath)
    {
        using var scope = NewDisposeScope();
        var actual = SafeTensors.Load(actualPath);
        var expected = SafeTensors.Load(expectedPath);
        actual.Keys.Should().BeEquivalentTo(expected.Keys);
        return expected.Max(kv => (actual[kv.Key] - kv.Value).abs().max().item<float>());
    }
}

/// <summary>The MPI runs use both cores: they run one at a time, not beside each other.</summary>
[CollectionDefinition(nameof(DataParallelCollection), DisableParallelization = true)]
public sealed class DataParallelCollection;
