namespace PromptLossWeight.Llama;
