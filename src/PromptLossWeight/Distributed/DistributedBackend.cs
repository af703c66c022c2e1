namespace PromptLossWeight.Distributed;

/// <summary>The engine that carries a data-parallel run's collectives (sums and broadcasts between processes).</summary>
public enum DistributedBackend
{
    /// <summary>NCCL when CUDA is available, otherwise MPI.</summary>
    Auto,

    /// <summary>
    /// Open MPI (<c>libmpi.so.40</c>), launched by <c>mpirun</c> or <c>srun</c>: CPU tensors directly, CUDA tensors through
    /// host copies. What HPC clusters launch with, and what makes data-parallel training testable without a GPU.
    /// </summary>
    Mpi,

    /// <summary>
    /// NVIDIA NCCL (<c>libnccl.so.2</c>) on CUDA tensors, one GPU per process. The NCCL id travels from rank 0 by MPI when
    /// launched by <c>mpirun</c>, otherwise by a TCP rendezvous at <c>MASTER_ADDR:MASTER_PORT</c>.
    /// </summary>
    Nccl,
}
