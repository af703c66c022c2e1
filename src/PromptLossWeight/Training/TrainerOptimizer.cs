using TorchSharp.Modules;
using static TorchSharp.torch;

namespace PromptLossWeight.Training;

/// <summary>
/// The trainer's AdamW (decoupled weight decay on matrices only, not on biases and norm gains) and its per-parameter
/// state addressed by parameter name: saving, loading and the finiteness check all walk it here, in one place.
/// </summary>
internal sealed class TrainerOptimizer : IDisposable
{
    private readonly AdamW _adamW;
    private readonly IReadOnlyList<(string Name, Parameter Parameter)> _order;

    public TrainerOptimizer(IReadOnlyList<(string Name, Parameter Parameter)> trainable, TrainerOptions options)
    {
        var decay = trainable.Where(p => p.Parameter.dim() >= 2).ToList();
        var noDecay = trainable.Where(p => p.Parameter.dim() < 2).ToList();
        var groups = new List<AdamW.ParamGroup>();
        if (decay.Count > 0)
            groups.Add(new AdamW.ParamGroup(decay.Select(p => p.Parameter), options.LearningRate, options.Beta1, options.Beta2, options.AdamEpsilon, options.WeightDecay));
        if (noDecay.Count > 0)
            groups.Add(new AdamW.ParamGroup(noDecay.Select(p => p.Parameter), options.LearningRate, options.Beta1, options.Beta2, options.AdamEpsilon, 0.0));
        _adamW = new AdamW(groups, options.LearningRate, options.Beta1, options.Beta2, options.AdamEpsilon, options.WeightDecay);
        _order = decay.Concat(noDecay).ToList(); // the order in which AdamW holds its per-parameter state
    }

    /// <summary>Every trainable parameter with its AdamW state, in the optimizer's order.</summary>
    private IEnumerable<(string Name, Parameter Parameter, AdamW.State State)> Entries()
    {
        var states = _adamW.state_dict().State;
        for (int i = 0; i < _order.Count; i++)
            yield return (_order[i].Name, _order[i].Parameter, (AdamW.State)states[i]);
    }

    public void Step(double learningRate)
    {
        foreach (var group in _adamW.ParamGroups) group.LearningRate = learningRate;
        _adamW.step();
        _adamW.zero_grad();
    }

    public void ZeroGrad() => _adamW.zero_grad();

    /// <summary>The moments by "{parameter}.exp_avg" / "{parameter}.exp_avg_sq".</summary>
    public Dictionary<string, Tensor> Moments()
    {
        var moments = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, _, state) in Entries())
        {
            moments[name + ".exp_avg"] = state.exp_avg;
            moments[name + ".exp_avg_sq"] = state.exp_avg_sq;
        }
        return moments;
    }

    /// <summary>The step count of each parameter by name.</summary>
    public Dictionary<string, long> StepCounts() => Entries().ToDictionary(e => e.Name, e => e.State.step, StringComparer.Ordinal);

    /// <summary>Copies saved moments and step counts in; <paramref name="folder"/> names the checkpoint in errors.</summary>
    public void Load(IReadOnlyDictionary<string, Tensor> moments, IReadOnlyDictionary<string, long> steps, string folder)
    {
        foreach (var (name, _, state) in Entries())
        {
            if (!moments.TryGetValue(name + ".exp_avg", out Tensor? m) || !moments.TryGetValue(name + ".exp_avg_sq", out Tensor? v))
                throw new InvalidDataException($"{folder}: optimizer state for parameter '{name}' is missing.");
            if (!steps.TryGetValue(name, out long step))
                throw new InvalidDataException($"{folder}: the optimizer step count of parameter '{name}' is missing.");
            state.exp_avg.copy_(m);
            state.exp_avg_sq.copy_(v);
            state.step = step;
        }
    }

    /// <summary>Sets the step counts (a rank that received its moments from rank 0 by broadcast); a parameter missing from <paramref name="steps"/> keeps its count.</summary>
    public void SetStepCounts(IReadOnlyDictionary<string, long> steps)
    {
        foreach (var (name, _, state) in Entries())
            if (steps.TryGetValue(name, out long step)) state.step = step;
    }

    /// <summary>The first parameter whose value or optimizer moments are not finite, or null (one host read for all of them).</summary>
    public string? FirstNonFinite()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var entries = Entries().ToList();
        if (entries.Count == 0) return null;
        Tensor finite = stack(entries.Select(e => isfinite(e.Parameter).all() & isfinite(e.State.exp_avg).all() & isfinite(e.State.exp_avg_sq).all()).ToList());
        bool[] ok = finite.cpu().data<bool>().ToArray();
        int first = Array.IndexOf(ok, false);
        return first < 0 ? null : entries[first].Name;
    }

    public void Dispose() => _adamW.Dispose();
}
