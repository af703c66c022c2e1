namespace PromptLossWeight.Llama.Hub;

/// <summary>Progress of one file downloaded from the Hub, reported through <see cref="HubOptions.Progress"/>.</summary>
/// <param name="Repo">The repository ("org/name").</param>
/// <param name="File">The file's path in the repository, e.g. "model-00001-of-00002.safetensors".</param>
/// <param name="BytesDone">Bytes on disk so far (a resumed download starts at the bytes it kept).</param>
/// <param name="TotalBytes">The file's size from the Hub, or null when the Hub did not say.</param>
/// <param name="Completed">True once the file is verified and in the cache (then <paramref name="BytesDone"/> is its size).</param>
public readonly record struct HubDownloadProgress(string Repo, string File, long BytesDone, long? TotalBytes, bool Completed);
