using PromptLossWeight.Batching;
using PromptLossWeight.Loss;
using PromptLossWeight.Masking;
using PromptLossWeight.Models;
using PromptLossWeight.Training;
using static TorchSharp.torch;

namespace PromptLossWeight.Tests.Training;

public class TrainerLossTests
{
    /// <summary>Records, for every micro-batch, the loss the trainer optimises and a reference computed independently.</summary>
    private sealed class RecordingTrainer(ICausalLanguageModel model, TrainerOptions options, IReadOnlyList<MaskedExample> train)
        : Trainer(model, options, train)
    {
        public List<(double Trained, double Reference, float[] Weights, long[] Roles)> Calls { get; } = [];
        public Func<Batch, Tensor>? ReferenceWeights { get; init; }

        protected override Tensor ComputeLoss(ICausalLanguageModel model, Batch batch, Tensor weights, double normalizer)
        {
            Tensor loss = base.ComputeLoss(model, batch, weights, normalizer);
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            Tensor logits = model.Logits(batch.InputIds, batch.DocumentIds, batch.PositionIds);
            Tensor reference = WeightedCrossEntropy.Compute(logits, batch.Labels, ReferenceWeights!(batch));
            Calls.Add((loss.item<float>(), reference.item<float>(), weights.cpu().data<float>().ToArray(), batch.Roles.cpu().data<long>().ToArray()));
            return loss;
        }
    }

    /// <summary>Exposes the trainer's loss hook so a test can back-propagate it into captured logits.</summary>
    private sealed class ProbeTrainer(ICausalLanguageModel model, TrainerOptions options, IReadOnlyList<MaskedExample> train)
        : Trainer(model, options, train)
    {
        public Tensor Loss(Batch batch, Tensor weights, double normalizer) => ComputeLoss(Model, batch, weights, normalizer);
    }

    /// <summary>Returns the tiny model's logits as a leaf tensor, so their gradient can be read.</summary>
    private sealed class LeafLogitsModel(TinyCausalModel inner) : ICausalLanguageModel
    {
        public Tensor? Last { get; private set; }
        public nn.Module Module => inner;

        public Tensor Logits(Tensor inputIds, Tensor? attentionMask = null, Tensor? positionIds = null)
        {
            // Kept out of the loss's dispose scope so the test can read its gradient afterwards.
            Last = inner.Logits(inputIds, attentionMask, positionIds).detach().requires_grad_(true).DetachFromDisposeScope();
            return Last;
        }
    }

    [Fact]
    public void The_loss_the_trainer_optimises_equals_weighted_cross_entropy_on_the_same_batch()
    {
        using var dir = new TempDir();
        var options = TrainerTestData.Options(dir.Path) with { PromptLossWeight = 0.3, MaxSteps = 5, EvalSteps = 100 };
        var trainer = new RecordingTrainer(new TinyCausalModel(), options, TrainerTestData.Examples(20, seed: 1))
        {
            ReferenceWeights = b => b.Weights(0.3),
        };

        trainer.Train();

        trainer.Calls.Should().HaveCount(5);
        foreach (var call in trainer.Calls)
        {
            call.Reference.Should().BeGreaterThan(0);
            call.Trained.Should().BeApproximately(call.Reference, 1e-6);
        }
    }

    [Fact]
    public void With_a_prompt_loss_weight_of_zero_prompt_tokens_contribute_exactly_zero_gradient()
    {
        using var dir = new TempDir();
        var examples = TrainerTestData.Examples(4, seed: 2);
        var model = new LeafLogitsModel(new TinyCausalModel());
        var trainer = new ProbeTrainer(model, TrainerTestData.Options(dir.Path) with { PromptLossWeight = 0 }, examples);
        using Batch batch = PaddingCollator.Pad(examples);
        using Tensor weights = batch.Weights(0.0);
        double normalizer = WeightedCrossEntropy.ShiftedWeights(batch.Labels, weights).sum().item<float>();

        using Tensor loss = trainer.Loss(batch, weights, normalizer);
        loss.backward();

        float[] grad = model.Last!.grad!.cpu().data<float>().ToArray();       // [B, N, V]
        long[] roles = batch.Roles.cpu().data<long>().ToArray();
        long[] labels = batch.Labels.cpu().data<long>().ToArray();
        int b = (int)batch.Size, n = (int)batch.Length, v = 16;
        int promptTargets = 0, completionTargets = 0;
        for (int row = 0; row < b; row++)
            for (int i = 0; i < n - 1; i++)
            {
                int next = row * n + i + 1;
                var g = grad.AsSpan((row * n + i) * v, v).ToArray();
                if (labels[next] == WeightedCrossEntropy.IgnoreIndex) continue;
                if (roles[next] == (long)TokenRole.Assistant)
                {
                    completionTargets++;
                    g.Should().Contain(x => x != 0, "completion targets carry gradient");
                }
                else
                {
                    promptTargets++;
                    g.Should().OnlyContain(x => x == 0f, $"the prediction of prompt token {i + 1} of row {row} has weight 0");
                }
            }
        promptTargets.Should().BeGreaterThan(0);
        completionTargets.Should().BeGreaterThan(0);
    }

    [Fact]
    public void Per_role_weights_flow_into_the_loss()
    {
        using var dir = new TempDir();
        var roleWeights = new RoleWeights(System: 0.0, User: 0.25, Assistant: 1.0);
        var chat = new List<MaskedExample>();
        for (int i = 0; i < 4; i++)
            chat.Add(new MaskedExample([1, 2, 3, 4, 5, 6, 7, 8, (i % 5) + 2],
                [TokenRole.System, TokenRole.System, TokenRole.User, TokenRole.User, TokenRole.Assistant, TokenRole.Assistant,
                 TokenRole.User, TokenRole.Assistant, TokenRole.Assistant]));
        var options = TrainerTestData.Options(dir.Path) with { RoleWeights = roleWeights, MaxSteps = 2, EvalSteps = 100 };
        var trainer = new RecordingTrainer(new TinyCausalModel(), options, chat) { ReferenceWeights = b => b.Weights(roleWeights) };

        trainer.Train();

        trainer.Calls.Should().HaveCount(2);
        foreach (var call in trainer.Calls)
        {
            for (int k = 0; k < call.Roles.Length; k++)
                call.Weights[k].Should().Be((float)roleWeights[(TokenRole)call.Roles[k]]);
            call.Trained.Should().BeApproximately(call.Reference, 1e-6);
        }
        trainer.State.History.Last().PromptLossWeight.Should().Be(0.25, "the plw column records the user weight");
    }
}
