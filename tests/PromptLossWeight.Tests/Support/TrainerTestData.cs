using PromptLossWeight.Masking;
using PromptLossWeight.Training;

namespace PromptLossWeight.Tests.Support;

internal static class TrainerTestData
{
    /// <summary>Random prompt/completion examples of different lengths (prompt 2..6 tokens, completion 1..4).</summary>
    public static List<MaskedExample> Examples(int count, int seed, int vocab = 16)
    {
        var random = new Random(seed);
        var examples = new List<MaskedExample>();
        for (int i = 0; i < count; i++)
        {
            int prompt = random.Next(2, 7), completion = random.Next(1, 5);
            long[] ids = Enumerable.Range(0, prompt + completion).Select(_ => (long)random.Next(1, vocab)).ToArray();
            TokenRole[] roles = Enumerable.Range(0, prompt + completion).Select(k => k < prompt ? TokenRole.User : TokenRole.Assistant).ToArray();
            examples.Add(new MaskedExample(ids, roles));
        }
        return examples;
    }

    /// <summary>
    /// The examples with random data weights (0, 0.5, 1 or 2 per token; every example keeps a completion token above 0),
    /// as weights in the data would give them.
    /// </summary>
    public static List<MaskedExample> WithDataWeights(IEnumerable<MaskedExample> examples, int seed)
    {
        var random = new Random(seed);
        float[] choices = [0f, 0.5f, 1f, 2f];
        return examples.Select(e =>
        {
            float[] weights = e.InputIds.Select(_ => choices[random.Next(choices.Length)]).ToArray();
            weights[Array.LastIndexOf(e.Roles, TokenRole.Assistant)] = 1.5f;
            return e with { DataWeights = weights };
        }).ToList();
    }

    public static TrainerOptions Options(string outputDirectory) => new()
    {
        OutputDirectory = outputDirectory,
        LearningRate = 1e-2,
        LearningRateSchedule = LearningRateScheduleKind.Constant,
        BatchSize = 4,
        MaxGradNorm = null,
        LoggingSteps = 1000,
        Seed = 7,
    };

    public static void ShouldEqual(Dictionary<string, float[]> actual, Dictionary<string, float[]> expected, double tolerance)
    {
        actual.Keys.Should().BeEquivalentTo(expected.Keys);
        foreach (var (name, values) in expected)
        {
            float[] a = actual[name];
            a.Length.Should().Be(values.Length);
            double maxDiff = a.Zip(values, (x, y) => Math.Abs((double)x - y)).Max();
            maxDiff.Should().BeLessThanOrEqualTo(tolerance, $"parameter {name} must match");
        }
    }
}

/// <summary>A callback built from lambdas.</summary>
internal sealed class LambdaCallback : TrainerCallback
{
    public Action<TrainerState, TrainerControl>? StepEnd { get; init; }
    public Action<TrainerState, TrainerControl, PromptLossWeight.Evaluation.MetricRecord>? Evaluate { get; init; }
    public Action<TrainerState, TrainerControl, string>? Save { get; init; }

    public override void OnStepEnd(TrainerState state, TrainerControl control) => StepEnd?.Invoke(state, control);
    public override void OnEvaluate(TrainerState state, TrainerControl control, PromptLossWeight.Evaluation.MetricRecord record) => Evaluate?.Invoke(state, control, record);
    public override void OnSave(TrainerState state, TrainerControl control, string checkpointPath) => Save?.Invoke(state, control, checkpointPath);
}
