using System.Globalization;
using TorchSharp;
using static TorchSharp.torch;

namespace PromptLossWeight.Distributed;

/// <summary>
/// This process's place in a data-parallel run: its rank, the number of processes, the GPU it uses and the engine
/// that carries the collectives. Create it once per process, before the model, with <see cref="FromEnvironment"/>, put it
/// in <see cref="Training.TrainerOptions.Distributed"/>, and dispose it at the end of the process.
/// </summary>
/// <remarks>
/// <para>One process per GPU (or per CPU socket). The launcher says who is who, in the environment:
/// <c>mpirun</c> (<c>OMPI_COMM_WORLD_RANK</c>, <c>_SIZE</c>, <c>_LOCAL_RANK</c>), torchrun-style launchers
/// (<c>RANK</c>, <c>WORLD_SIZE</c>, <c>LOCAL_RANK</c>, <c>MASTER_ADDR</c>, <c>MASTER_PORT</c>) or Slurm's <c>srun</c>
/// (<c>SLURM_PROCID</c>, <c>SLURM_NTASKS</c>, <c>SLURM_LOCALID</c>).</para>
/// <para>With it the trainer makes N processes × <c>BatchSize</c> b × <c>GradientAccumulationSteps</c> g give the same
/// update as one process with accumulation g·N: the step's normaliser Σw and the gradients are summed over the ranks,
/// each rank takes every N-th micro-batch of the one plan a single process makes, and rank 0 alone writes
/// checkpoints, metrics and logs.</para>
/// </remarks>
public sealed class DistributedContext : IDisposable
{
    /// <summary>The default limit on one collective: long enough for rank 0 to write a large checkpoint meanwhile.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromMinutes(30);

    private readonly ICollectives _collectives;
    private bool _disposed;

    private DistributedContext(ICollectives collectives, DistributedBackend backend, int localRank, Device device, TimeSpan timeout)
    {
        _collectives = collectives;
        Backend = backend;
        LocalRank = localRank;
        Device = device;
        Timeout = timeout;
    }

    /// <summary>This process's rank, 0 … <see cref="WorldSize"/> - 1.</summary>
    public int Rank => _collectives.Rank;

    /// <summary>The number of processes in the run.</summary>
    public int WorldSize => _collectives.WorldSize;

    /// <summary>This process's rank among those on its machine (picks the GPU when several are visible).</summary>
    public int LocalRank { get; }

    /// <summary>True on rank 0, the process that writes checkpoints, metrics and logs.</summary>
    public bool IsMainProcess => Rank == 0;

    /// <summary>The engine carrying the collectives (never <see cref="DistributedBackend.Auto"/>).</summary>
    public DistributedBackend Backend { get; }

    /// <summary>The device this process trains on: its GPU with NCCL, the CPU (or its GPU, through host copies) with MPI.</summary>
    public Device Device { get; }

    /// <summary>How long one collective may wait for the other ranks before this rank gives up with a <see cref="DistributedException"/>.</summary>
    public TimeSpan Timeout { get; }

    /// <summary>
    /// True when a launcher started this process as part of a run of several (<c>mpirun</c>, <c>srun</c>, or
    /// <c>WORLD_SIZE</c> &gt; 1): a program can then call <see cref="FromEnvironment"/>.
    /// </summary>
    public static bool IsLaunched => LaunchedWorldSize(Environment.GetEnvironmentVariable) is int size && size > 1;

    /// <summary>
    /// Joins the run this process was launched into: reads the launcher's environment, starts the engine (MPI, or NCCL
    /// with its id shared from rank 0) and checks that every rank agrees on the world size.
    /// </summary>
    /// <param name="backend">The engine; <see cref="DistributedBackend.Auto"/>: NCCL when CUDA is available, otherwise MPI.</param>
    /// <param name="timeout">The limit on one collective; null: <c>PLW_DISTRIBUTED_TIMEOUT</c> (seconds) or <see cref="DefaultTimeout"/>.</param>
    /// <exception cref="DistributedException">The environment does not describe a run, a library is missing, or the ranks cannot meet.</exception>
    public static DistributedContext FromEnvironment(DistributedBackend backend = DistributedBackend.Auto, TimeSpan? timeout = null)
    {
        Func<string, string?> env = Environment.GetEnvironmentVariable;
        TimeSpan limit = timeout ?? TimeoutFromEnvironment(env);
        if (limit <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(timeout), "The collective timeout must be positive.");
        if (backend == DistributedBackend.Auto) backend = cuda.is_available() ? DistributedBackend.Nccl : DistributedBackend.Mpi;
        bool underMpirun = env("OMPI_COMM_WORLD_SIZE") is not null;
        int localRank = Integer(env, "OMPI_COMM_WORLD_LOCAL_RANK") ?? Integer(env, "LOCAL_RANK") ?? Integer(env, "SLURM_LOCALID") ?? 0;

        if (backend == DistributedBackend.Mpi)
        {
            var mpi = new MpiCollectives(limit);
            try
            {
                if (LaunchedWorldSize(env) is int expected && expected != mpi.WorldSize)
                    throw new DistributedException(
                        $"The launcher says {expected} processes but MPI started {mpi.WorldSize}: the MPI backend needs mpirun (or srun --mpi=pmix) to start every rank.");
                Device device = cuda.is_available() ? CudaDevice(env, localRank) : CPU;
                return new DistributedContext(mpi, backend, localRank, device, limit);
            }
            catch
            {
                mpi.Dispose();
                throw;
            }
        }

        if (!cuda.is_available()) throw new DistributedException("The NCCL backend needs CUDA, and this process has no CUDA device; use DistributedBackend.Mpi on CPUs.");
        Device gpu = CudaDevice(env, localRank);
        if (gpu.index != 0)
            throw new DistributedException(
                $"This process sees {cuda.device_count()} GPUs: pin one GPU per process (CUDA_VISIBLE_DEVICES=$LOCAL_RANK, or $OMPI_COMM_WORLD_LOCAL_RANK under mpirun) for the NCCL backend.");
        ICollectives? side = underMpirun ? new MpiCollectives(limit) : null;
        try
        {
            int rank = side?.Rank ?? Integer(env, "RANK") ?? Integer(env, "SLURM_PROCID")
                ?? throw new DistributedException("The NCCL backend needs RANK and WORLD_SIZE (or mpirun / srun) in the environment.");
            int size = side?.WorldSize ?? LaunchedWorldSize(env) ?? 1;
            if (rank < 0 || rank >= size) throw new DistributedException($"RANK {rank} is outside 0..{size - 1} (WORLD_SIZE {size}).");
            byte[] id;
            if (side is not null)
            {
                using var buffer = rank == 0 ? tensor(NcclCollectives.NewUniqueId()) : zeros(NcclCollectives.UniqueIdBytes, ScalarType.Byte);
                side.Broadcast([buffer], "sharing the NCCL id");
                id = buffer.data<byte>().ToArray();
            }
            else if (size == 1) id = NcclCollectives.NewUniqueId();
            else
            {
                string host = env("MASTER_ADDR") ?? throw new DistributedException("The NCCL backend needs MASTER_ADDR (rank 0's host) for the rendezvous.");
                int port = Integer(env, "MASTER_PORT") ?? throw new DistributedException("The NCCL backend needs MASTER_PORT (a free TCP port on rank 0's host).");
                if (rank == 0)
                {
                    id = NcclCollectives.NewUniqueId();
                    TcpRendezvous.Serve(port, size, id, limit);
                }
                else id = TcpRendezvous.Join(host, port, rank, limit);
            }
            return new DistributedContext(new NcclCollectives(id, rank, size, gpu, limit, side), backend, localRank, gpu, limit);
        }
        catch
        {
            side?.Dispose();
            throw;
        }
    }

    /// <summary>The collectives, for the trainer.</summary>
    internal ICollectives Collectives => _disposed ? throw new ObjectDisposedException(nameof(DistributedContext)) : _collectives;

    /// <summary>
    /// Waits until every rank has reached this call (like <c>torch.distributed.barrier</c>), e.g. while rank 0 prepares
    /// files the others read next. Throws a <see cref="DistributedException"/> when another rank failed or
    /// <see cref="Timeout"/> passed; <paramref name="what"/> names the wait in that error.
    /// </summary>
    public void Barrier(string what)
    {
        ArgumentException.ThrowIfNullOrEmpty(what);
        using var scope = NewDisposeScope();
        Collectives.AllReduceSum([zeros(1, ScalarType.Float64)], what);
    }

    /// <summary>
    /// Tells the other ranks that this one failed, with <paramref name="error"/>'s message, so they stop with a
    /// <see cref="DistributedException"/> naming this rank instead of waiting. The trainer calls it for errors in
    /// <c>Train</c>; call it from code of your own that fails between collectives. Does nothing for an error that
    /// reports another rank's failure.
    /// </summary>
    public void ReportFailure(Exception error)
    {
        ArgumentNullException.ThrowIfNull(error);
        if (_disposed || error is DistributedException { FailedRank: not null }) return;
        _collectives.NotifyFailure($"{error.GetType().Name}: {error.Message}");
    }

    /// <summary>Meets the other ranks at a final barrier and shuts the engine down (after a failure: shuts nothing, the process just ends).</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _collectives.Dispose();
    }

    private static Device CudaDevice(Func<string, string?> env, int localRank)
    {
        // One visible GPU (CUDA_VISIBLE_DEVICES pinned per process) is cuda:0; otherwise the local rank picks one.
        int visible = (int)cuda.device_count();
        int index = visible == 1 ? 0 : localRank;
        if (index >= visible) throw new DistributedException($"Local rank {localRank} has no GPU: this process sees {visible}.");
        return new Device(DeviceType.CUDA, index);
    }

    private static int? LaunchedWorldSize(Func<string, string?> env) =>
        Integer(env, "OMPI_COMM_WORLD_SIZE") ?? Integer(env, "WORLD_SIZE") ?? Integer(env, "SLURM_NTASKS");

    private static TimeSpan TimeoutFromEnvironment(Func<string, string?> env)
    {
        string? text = env("PLW_DISTRIBUTED_TIMEOUT");
        if (text is null) return DefaultTimeout;
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double seconds) || !(seconds > 0))
            throw new DistributedException($"PLW_DISTRIBUTED_TIMEOUT is '{text}'; it must be a positive number of seconds.");
        return TimeSpan.FromSeconds(seconds);
    }

    private static int? Integer(Func<string, string?> env, string name)
    {
        string? text = env(name);
        if (text is null) return null;
        return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int value) && value >= 0
            ? value
            : throw new DistributedException($"The environment variable {name} is '{text}'; it must be a non-negative integer.");
    }
}
