using System.Diagnostics;

namespace PromptLossWeight.Bench;

/// <summary>Wall-clock timing helpers.</summary>
internal static class Timing
{
    public static double Seconds(Action action)
    {
        var watch = Stopwatch.StartNew();
        action();
        return watch.Elapsed.TotalSeconds;
    }

    /// <summary>
    /// Runs two variants alternately (A B A B …) after one warm-up each, so that load from other processes affects both
    /// alike; returns the median time of each.
    /// </summary>
    public static (double A, double B) Interleaved(Action a, Action b, int repetitions)
    {
        a();
        b();
        var timesA = new List<double>();
        var timesB = new List<double>();
        for (int i = 0; i < repetitions; i++)
        {
            timesA.Add(Seconds(a));
            timesB.Add(Seconds(b));
        }
        return (Median(timesA), Median(timesB));
    }

    public static double Median(List<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
