using PromptLossWeight.Llama.Model;
using PromptLossWeight.Llama.Runtime;
using static TorchSharp.torch;

namespace PromptLossWeight.Llama.Tests.Model;

public class RotaryEmbeddingTests
{
    [Fact]
    public void Each_feature_pair_i_and_i_plus_half_is_rotated_by_position_times_theta_to_the_minus_2i_over_d()
    {
        TorchRuntime.EnsureLoaded();
        const int headDim = 8;
        const double theta = 500.0;
        var rope = new RotaryEmbedding(headDim, theta);
        var generator = new Generator(3);
        using var x = randn([1, 3, 2, headDim], generator: generator); // [B, N, heads, H]
        using var positions = tensor(new long[] { 0, 5, 17 }, [1, 3]);
        var (cos, sin) = rope.CosSin(positions, ScalarType.Float32);
        using var rotated = RotaryEmbedding.Apply(x, cos, sin);

        float[] input = x.data<float>().ToArray(), output = rotated.data<float>().ToArray();
        long[] pos = [0, 5, 17];
        for (int head = 0; head < 2; head++)
            for (int t = 0; t < 3; t++)
                for (int i = 0; i < headDim / 2; i++)
                {
                    int at = (t * 2 + head) * headDim;
                    double angle = pos[t] * Math.Pow(theta, -2.0 * i / headDim);
                    double a = input[at + i], b = input[at + i + headDim / 2];
                    output[at + i].Should().BeApproximately((float)(a * Math.Cos(angle) - b * Math.Sin(angle)), 1e-4f);
                    output[at + i + headDim / 2].Should().BeApproximately((float)(b * Math.Cos(angle) + a * Math.Sin(angle)), 1e-4f);
                }
        cos.Dispose();
        sin.Dispose();
    }

    [Fact]
    public void Llama3_scaling_divides_long_wavelengths_keeps_short_ones_and_interpolates_between()
    {
        var scaling = new Llama3RopeScaling(Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositionEmbeddings: 64);
        double[] plain = RotaryEmbedding.InverseFrequencies(16, 10000, null);
        double[] scaled = RotaryEmbedding.InverseFrequencies(16, 10000, scaling);
        // Wavelength 2π/f against the band [64/4, 64/1] = [16, 64].
        for (int i = 0; i < plain.Length; i++)
        {
            double wavelength = 2 * Math.PI / plain[i];
            double expected = wavelength < 16 ? plain[i]
                : wavelength > 64 ? plain[i] / 8
                : plain[i] * ((64 / wavelength - 1) / 3 + (1 - (64 / wavelength - 1) / 3) / 8);
            scaled[i].Should().BeApproximately(expected, 1e-12, $"frequency {i} (wavelength {wavelength:F1})");
        }
        plain.Select(f => 2 * Math.PI / f).Should().Contain(w => w < 16).And.Contain(w => w > 64).And.Contain(w => w >= 16 && w <= 64,
            "the test must cover all three regimes");
    }
}
