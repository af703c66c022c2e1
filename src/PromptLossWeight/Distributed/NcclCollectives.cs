using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace PromptLossWeight.Distributed;

/// <summary>
/// Collectives on NVIDIA NCCL, on CUDA tensors of the one GPU this process uses, enqueued on libtorch's current
/// (default) stream so that they run in order with the kernels around them. The buckets of one call go in one
/// <c>ncclGroupStart</c>/<c>ncclGroupEnd</c>. Each call ends with a device synchronisation under a watchdog: when it takes
/// longer than <c>timeout</c>, the watchdog aborts the communicator (<c>ncclCommAbort</c>), which makes the pending
/// kernels return, and the call throws. CPU tensors go through device copies.
/// </summary>
internal sealed class NcclCollectives : ICollectives
{
    private const int Sum = 0;
    private IntPtr _comm;
    private readonly TimeSpan _timeout;
    private readonly Device _device;
    private readonly ICollectives? _sideChannel; // MPI, when launched by mpirun: failure notices reach the other ranks at once

    /// <summary>Joins the communicator of <c>uniqueId</c>, the 128-byte NCCL id made by rank 0 (<see cref="NewUniqueId"/>) and shared with every rank.</summary>
    public NcclCollectives(byte[] uniqueId, int rank, int worldSize, Device device, TimeSpan timeout, ICollectives? sideChannel)
    {
        if (uniqueId.Length != UniqueIdBytes) throw new ArgumentException($"An NCCL id has {UniqueIdBytes} bytes.", nameof(uniqueId));
        NativeLibraries.EnsureResolver();
        _timeout = timeout;
        _device = device;
        _sideChannel = sideChannel;
        Rank = rank;
        WorldSize = worldSize;
        Check(Native.ncclCommInitRank(out _comm, worldSize, new UniqueId { Bytes = uniqueId }, rank), "ncclCommInitRank");
    }

    public const int UniqueIdBytes = 128;

    /// <summary>A new NCCL id (rank 0 makes it; the others receive it by the rendezvous or by MPI).</summary>
    public static byte[] NewUniqueId()
    {
        NativeLibraries.EnsureResolver();
        var id = new UniqueId { Bytes = new byte[UniqueIdBytes] };
        Check(Native.ncclGetUniqueId(ref id), "ncclGetUniqueId");
        return id.Bytes;
    }

    public int Rank { get; }

    public int WorldSize { get; }

    public bool Failed { get; private set; }

    public void AllReduceSum(IReadOnlyList<Tensor> buffers, string what) => Run(buffers, what, reduce: true);

    public void Broadcast(IReadOnlyList<Tensor> buffers, string what) => Run(buffers, what, reduce: false);

    private void Run(IReadOnlyList<Tensor> buffers, string what, bool reduce)
    {
        if (Failed) throw new DistributedException($"rank {Rank}: {what}: the NCCL communicator was aborted by an earlier failure.");
        using var scope = NewDisposeScope();
        var staged = buffers.Select(b => (Original: b, OnDevice: b.device == _device && b.is_contiguous() ? b : b.to(_device).contiguous())).ToList();
        Check(Native.ncclGroupStart(), "ncclGroupStart");
        foreach (var (_, tensor) in staged)
        {
            IntPtr address = TensorMemory.Address(tensor);
            (int type, long count) = reduce ? (DataType(tensor.dtype, what), tensor.numel()) : (1 /* uint8 */, tensor.numel() * tensor.ElementSize);
            int code = reduce
                ? Native.ncclAllReduce(address, address, (nuint)count, type, Sum, _comm, IntPtr.Zero)
                : Native.ncclBroadcast(address, address, (nuint)count, type, 0, _comm, IntPtr.Zero);
            if (code != 0)
            {
                Native.ncclGroupEnd();
                Check(code, reduce ? "ncclAllReduce" : "ncclBroadcast");
            }
        }
        Check(Native.ncclGroupEnd(), "ncclGroupEnd");
        SynchronizeUnderWatchdog(what);
        foreach (var (original, onDevice) in staged)
            if (!ReferenceEquals(original, onDevice)) original.copy_(onDevice);
    }

    private void SynchronizeUnderWatchdog(string what)
    {
        bool timedOut = false;
        using (var watchdog = new Timer(_ =>
        {
            timedOut = true;
            Native.ncclCommAbort(_comm); // the pending NCCL kernels return, so the synchronisation below ends
        }, null, _timeout, Timeout.InfiniteTimeSpan))
        {
            TorchCuda.Synchronize(_device.index < 0 ? 0 : _device.index);
        }
        if (timedOut)
        {
            Failed = true;
            _comm = IntPtr.Zero;
            throw new DistributedException($"rank {Rank}: {what} did not complete within {_timeout.TotalSeconds:0.#} s: another rank stopped or is stuck " +
                "(see its output; DistributedContext.Timeout or PLW_DISTRIBUTED_TIMEOUT sets the limit).");
        }
        if (Native.ncclCommGetAsyncError(_comm, out int asyncError) == 0 && asyncError != 0)
        {
            Failed = true;
            Check(asyncError, what);
        }
    }

    private static int DataType(ScalarType type, string what) => type switch
    {
        ScalarType.Int64 => 4,
        ScalarType.Float16 => 6,
        ScalarType.Float32 => 7,
        ScalarType.Float64 => 8,
        ScalarType.BFloat16 => 9,
        _ => throw new ArgumentException($"{what}: the NCCL backend sums float64, float32, bfloat16, float16 or int64 tensors, not {type}."),
    };

    public void NotifyFailure(string message)
    {
        if (Failed) return;
        Failed = true;
        _sideChannel?.NotifyFailure(message);
        if (_comm != IntPtr.Zero) Native.ncclCommAbort(_comm); // peers' pending collectives end at their watchdogs
        _comm = IntPtr.Zero;
    }

    public void Dispose()
    {
        if (_comm != IntPtr.Zero) Native.ncclCommDestroy(_comm);
        _comm = IntPtr.Zero;
        _sideChannel?.Dispose();
    }

    private static void Check(int code, string call)
    {
        if (code == 0) return;
        string text = Marshal.PtrToStringAnsi(Native.ncclGetErrorString(code)) ?? $"error {code}";
        throw new DistributedException($"{call} failed: {text} (NCCL result {code}).");
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct UniqueId
    {
        [MarshalAs(UnmanagedType.ByValArray, SizeConst = UniqueIdBytes)] public byte[] Bytes;
    }

    private static class Native
    {
        private const string Lib = NativeLibraries.Nccl;
        [DllImport(Lib)] public static extern int ncclGetUniqueId(ref UniqueId id);
        [DllImport(Lib)] public static extern int ncclCommInitRank(out IntPtr comm, int worldSize, UniqueId id, int rank);
        [DllImport(Lib)] public static extern int ncclAllReduce(IntPtr send, IntPtr receive, nuint count, int type, int op, IntPtr comm, IntPtr stream);
        [DllImport(Lib)] public static extern int ncclBroadcast(IntPtr send, IntPtr receive, nuint count, int type, int root, IntPtr comm, IntPtr stream);
        [DllImport(Lib)] public static extern int ncclGroupStart();
        [DllImport(Lib)] public static extern int ncclGroupEnd();
        [DllImport(Lib)] public static extern int ncclCommAbort(IntPtr comm);
        [DllImport(Lib)] public static extern int ncclCommDestroy(IntPtr comm);
        [DllImport(Lib)] public static extern int ncclCommGetAsyncError(IntPtr comm, out int asyncError);
        [DllImport(Lib)] public static extern IntPtr ncclGetErrorString(int result);
    }
}

/// <summary>libtorch's CUDA device synchronisation, as TorchSharp exports it.</summary>
internal static class TorchCuda
{
    [DllImport("LibTorchSharp")]
    private static extern void THSTorchCuda_synchronize(long deviceIndex);

    public static void Synchronize(long deviceIndex) => THSTorchCuda_synchronize(deviceIndex);
}
