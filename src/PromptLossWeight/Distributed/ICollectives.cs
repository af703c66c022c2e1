using static TorchSharp.torch;

namespace PromptLossWeight.Distributed;

/// <summary>
/// The few collectives data parallelism needs, carried by an existing engine (<see cref="MpiCollectives"/>,
/// <see cref="NcclCollectives"/>). Every rank calls the same operations in the same order with tensors of the same
/// shapes and dtypes; each call returns when it is complete on this rank, or throws a <see cref="DistributedException"/>
/// (another rank failed, or <c>timeout</c> passed). <c>what</c> names the operation in those errors.
/// </summary>
internal interface ICollectives : IDisposable
{
    int Rank { get; }

    int WorldSize { get; }

    /// <summary>Sums each contiguous tensor over all ranks, in place; the result is the same on every rank.</summary>
    void AllReduceSum(IReadOnlyList<Tensor> buffers, string what);

    /// <summary>Copies rank 0's contents of each contiguous tensor into every rank's, in place.</summary>
    void Broadcast(IReadOnlyList<Tensor> buffers, string what);

    /// <summary>Tells the other ranks that this one failed with <paramref name="message"/>, so that they stop instead of waiting.</summary>
    void NotifyFailure(string message);

    /// <summary>True after a failure (this rank's or another's, or a timeout): the engine is not shut down cleanly then.</summary>
    bool Failed { get; }
}
