// The smallest tour of the data path: text → tokens + roles → batch → weights → loss, for several PLW values.
using Microsoft.ML.Tokenizers;
using PromptLossWeight.Batching;
using PromptLossWeight.Loss;
using PromptLossWeight.Masking;
using static TorchSharp.torch;

Tokenizer tokenizer = TiktokenTokenizer.CreateForModel("gpt2");
var builder = new MaskBuilder(tokenizer, new MaskBuilderOptions { EosId = 50256 });
MaskedExample[] examples =
[
    builder.Build("Article: Tom lives in Paris. Question: Where does Tom live? A. Rome B. Paris C. Oslo D. Lima Answer:", " B")!,
    builder.Build("Translate to French: good morning", " bonjour")!,
];
using Batch batch = PaddingCollator.Pad(examples, padId: 50256);

manual_seed(0);
using var logits = randn(batch.Size, batch.Length, 50257); // stand-in for a model's output
Console.WriteLine($"{"PLW",5}  {"loss",8}   prompt tokens: {examples.Sum(e => e.PromptLength)}, completion tokens: {examples.Sum(e => e.CompletionLength)}");
foreach (double plw in new[] { 1.0, 0.5, 0.1, 0.01, 0.0 })
{
    using var weights = batch.Weights(plw);
    using var loss = WeightedCrossEntropy.Compute(logits, batch.Labels, weights);
    Console.WriteLine($"{plw,5}  {loss.item<float>(),8:F4}");
}
