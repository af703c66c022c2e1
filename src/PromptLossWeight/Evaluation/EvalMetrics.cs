namespace PromptLossWeight.Evaluation;

/// <summary>Turns <see cref="EvalOutputs"/> into the default metrics (see <see cref="MetricNames"/>).</summary>
public static class EvalMetrics
{
    /// <summary>
    /// prompt_loss, completion_loss, full_loss (token-weighted means over the whole evaluation set),
    /// completion_token_accuracy, and accuracy when any answer token was seen. When the outputs carry the weighted
    /// statistics (<see cref="EvalStatisticKeys.WeightedLossSum"/>), also the training objective under either
    /// normalisation: <see cref="MetricNames.WeightedLoss"/> and <see cref="MetricNames.WeightedLossNonZero"/>.
    /// A mean over zero tokens is NaN.
    /// </summary>
    public static Dictionary<string, double> Compute(EvalOutputs outputs)
    {
        ArgumentNullException.ThrowIfNull(outputs);
        double promptSum = outputs.Sum(EvalStatisticKeys.PromptLossSum), promptCount = outputs.Sum(EvalStatisticKeys.PromptTokens);
        double completionSum = outputs.Sum(EvalStatisticKeys.CompletionLossSum), completionCount = outputs.Sum(EvalStatisticKeys.CompletionTokens);
        var metrics = new Dictionary<string, double>(StringComparer.Ordinal)
        {
            [MetricNames.PromptLoss] = Ratio(promptSum, promptCount),
            [MetricNames.CompletionLoss] = Ratio(completionSum, completionCount),
            [MetricNames.FullLoss] = Ratio(promptSum + completionSum, promptCount + completionCount),
            [MetricNames.CompletionTokenAccuracy] = Ratio(outputs.Sum(EvalStatisticKeys.CompletionCorrect), completionCount),
        };
        double answers = outputs.Sum(EvalStatisticKeys.AnswerTotal);
        if (answers > 0) metrics[MetricNames.Accuracy] = outputs.Sum(EvalStatisticKeys.AnswerCorrect) / answers;
        if (outputs.Contains(EvalStatisticKeys.WeightedLossSum))
        {
            double weighted = outputs.Sum(EvalStatisticKeys.WeightedLossSum);
            metrics[MetricNames.WeightedLoss] = Ratio(weighted, outputs.Sum(EvalStatisticKeys.WeightSum));
            metrics[MetricNames.WeightedLossNonZero] = Ratio(weighted, outputs.Sum(EvalStatisticKeys.WeightedTokens));
        }
        return metrics;
    }

    private static double Ratio(double sum, double count) => count > 0 ? sum / count : double.NaN;
}
