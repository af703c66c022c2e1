namespace PromptLossWeight.Evaluation;

/// <summary>Turns <see cref="EvalOutputs"/> into the default metrics (see <see cref="MetricNames"/>).</summary>
public static class EvalMetrics
{
    /// <summary>
    /// prompt_loss, completion_loss, full_loss (token-weighted means over the whole evaluation set),
    /// completion_token_accuracy, and accuracy when any answer token was seen. When the outputs carry the weighted
    /// statistics (<see cref="EvalOutputs.Weighted"/>), also the training objective under either
    /// normalisation: <see cref="MetricNames.WeightedLoss"/> and <see cref="MetricNames.WeightedLossNonZero"/>.
    /// A mean over zero tokens is NaN.
    /// </summary>
    public static Dictionary<string, double> Compute(EvalOutputs outputs)
    {
        ArgumentNullException.ThrowIfNull(outputs);
        double promptSum = outputs.PromptLossSum.Sum(), promptCount = outputs.PromptTokens.Sum();
        double completionSum = outputs.CompletionLossSum.Sum(), completionCount = outputs.CompletionTokens.Sum();
        var metrics = new Dictionary<string, double>(StringComparer.Ordinal)
        {
            [MetricNames.PromptLoss] = Ratio(promptSum, promptCount),
            [MetricNames.CompletionLoss] = Ratio(completionSum, completionCount),
            [MetricNames.FullLoss] = Ratio(promptSum + completionSum, promptCount + completionCount),
            [MetricNames.CompletionTokenAccuracy] = Ratio(outputs.CompletionCorrect.Sum(), completionCount),
        };
        double answers = outputs.AnswerTotal.Sum();
        if (answers > 0) metrics[MetricNames.Accuracy] = outputs.AnswerCorrect.Sum() / answers;
        if (outputs.Weighted is { } weighted)
        {
            double sum = weighted.LossSum.Sum();
            metrics[MetricNames.WeightedLoss] = Ratio(sum, weighted.WeightSum.Sum());
            metrics[MetricNames.WeightedLossNonZero] = Ratio(sum, weighted.WeightedTokens.Sum());
        }
        return metrics;
    }

    private static double Ratio(double sum, double count) => count > 0 ? sum / count : double.NaN;
}
