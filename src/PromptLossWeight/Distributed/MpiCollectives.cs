using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace PromptLossWeight.Distributed;

/// <summary>
/// Collectives on Open MPI through the handful of calls they need. Every collective is non-blocking
/// (<c>MPI_Iallreduce</c>, <c>MPI_Ibcast</c>) and completed by polling, so that a wait can end early: when another rank
/// reports a failure (a tagged message, <see cref="NotifyFailure"/>) or when <c>timeout</c> passes. CUDA tensors go
/// through host copies; bf16 and fp16 are summed in fp32 (MPI has no 16-bit float types).
/// </summary>
internal sealed class MpiCollectives : ICollectives
{
    private const int FailureTag = 0x504C57, AckTag = FailureTag + 1; // "PLW"
    private const int AnySource = -1, ThreadSerialized = 2;
    private const int MaxCount = 1 << 28; // elements per MPI call (counts are 32-bit)
    private static readonly IntPtr InPlace = 1; // Open MPI's MPI_IN_PLACE

    private readonly IntPtr _world, _sum, _double, _float, _int64, _byte;
    private readonly TimeSpan _timeout;
    private readonly bool _initializedHere;

    public MpiCollectives(TimeSpan timeout)
    {
        _timeout = timeout;
        NativeLibraries.EnsureResolver();
        _ = NativeLibraries.MpiLibrary;
        _world = NativeLibraries.MpiGlobal("ompi_mpi_comm_world");
        _sum = NativeLibraries.MpiGlobal("ompi_mpi_op_sum");
        _double = NativeLibraries.MpiGlobal("ompi_mpi_double");
        _float = NativeLibraries.MpiGlobal("ompi_mpi_float");
        _int64 = NativeLibraries.MpiGlobal("ompi_mpi_long_long_int");
        _byte = NativeLibraries.MpiGlobal("ompi_mpi_byte");
        Check(Native.MPI_Initialized(out int initialized), "MPI_Initialized");
        if (initialized == 0)
        {
            Check(Native.MPI_Init_thread(IntPtr.Zero, IntPtr.Zero, ThreadSerialized, out _), "MPI_Init_thread");
            _initializedHere = true;
        }
        Check(Native.MPI_Comm_rank(_world, out int rank), "MPI_Comm_rank");
        Check(Native.MPI_Comm_size(_world, out int size), "MPI_Comm_size");
        Rank = rank;
        WorldSize = size;
    }

    public int Rank { get; }

    public int WorldSize { get; }

    public bool Failed { get; private set; }

    public void AllReduceSum(IReadOnlyList<Tensor> buffers, string what) => Run(buffers, what, reduce: true);

    public void Broadcast(IReadOnlyList<Tensor> buffers, string what) => Run(buffers, what, reduce: false);

    private void Run(IReadOnlyList<Tensor> buffers, string what, bool reduce)
    {
        if (WorldSize == 1 || buffers.Count == 0) return;
        using var scope = NewDisposeScope();
        var staged = new List<(Tensor Original, Tensor Host)>();
        var requests = new List<IntPtr>();
        foreach (Tensor buffer in buffers)
        {
            // The host copy MPI works on: the tensor itself when it is a CPU tensor MPI can sum as it is.
            ScalarType hostType = !reduce ? buffer.dtype : buffer.dtype is ScalarType.BFloat16 or ScalarType.Float16 ? ScalarType.Float32 : buffer.dtype;
            Tensor host = buffer.device_type == DeviceType.CPU && hostType == buffer.dtype && buffer.is_contiguous()
                ? buffer
                : buffer.to(hostType, CPU).contiguous();
            staged.Add((buffer, host));
            (IntPtr type, long count, int size) = reduce ? (SumType(hostType, what), host.numel(), (int)host.ElementSize) : (_byte, host.numel() * host.ElementSize, 1);
            IntPtr address = TensorMemory.Address(host);
            for (long offset = 0; offset < count; offset += MaxCount)
            {
                int n = (int)Math.Min(MaxCount, count - offset);
                IntPtr at = address + (nint)(offset * size);
                IntPtr request;
                int code = reduce
                    ? Native.MPI_Iallreduce(InPlace, at, n, type, _sum, _world, out request)
                    : Native.MPI_Ibcast(at, n, type, 0, _world, out request);
                Check(code, reduce ? "MPI_Iallreduce" : "MPI_Ibcast");
                requests.Add(request);
            }
        }
        Wait(requests, what);
        foreach (var (original, host) in staged)
            if (!ReferenceEquals(original, host)) original.copy_(host);
    }

    private IntPtr SumType(ScalarType type, string what) => type switch
    {
        ScalarType.Float64 => _double,
        ScalarType.Float32 => _float,
        ScalarType.Int64 => _int64,
        _ => throw new ArgumentException($"{what}: the MPI backend sums float64, float32, bfloat16, float16 or int64 tensors, not {type}."),
    };

    /// <summary>Polls <paramref name="requests"/> to completion, watching for other ranks' failure notices and the timeout.</summary>
    private void Wait(List<IntPtr> requests, string what)
    {
        var clock = Stopwatch.StartNew();
        IntPtr[] pending = requests.ToArray();
        for (long spins = 0; ; spins++)
        {
            Check(Native.MPI_Testall(pending.Length, pending, out int done, IntPtr.Zero), "MPI_Testall");
            if (done != 0) return;
            ThrowOnFailureNotice(what);
            if (clock.Elapsed > _timeout)
            {
                Failed = true;
                throw new DistributedException(
                    $"rank {Rank}: {what} did not complete within {_timeout.TotalSeconds:0.#} s: another rank stopped or is stuck " +
                    "(see its output; DistributedContext.Timeout or PLW_DISTRIBUTED_TIMEOUT sets the limit).");
            }
            if (spins < 2000) Thread.SpinWait(64);
            else Thread.Sleep(1);
        }
    }

    private void ThrowOnFailureNotice(string what)
    {
        var status = new byte[StatusBytes];
        Check(Native.MPI_Iprobe(AnySource, FailureTag, _world, out int found, status), "MPI_Iprobe");
        if (found == 0) return;
        int source = BitConverter.ToInt32(status, 0); // MPI_SOURCE is the status's first field
        Check(Native.MPI_Get_count(status, _byte, out int length), "MPI_Get_count");
        var text = new byte[Math.Max(1, length)];
        Check(Native.MPI_Recv(text, length, _byte, source, FailureTag, _world, IntPtr.Zero), "MPI_Recv");
        Failed = true;
        SendAndWait(source, AckTag, [1], TimeSpan.FromSeconds(5)); // lets the failing rank exit knowing it was heard
        throw new DistributedException($"rank {source} failed: {Encoding.UTF8.GetString(text, 0, length)} (rank {Rank} stopped in {what})")
        {
            FailedRank = source,
        };
    }

    public void NotifyFailure(string message)
    {
        if (Failed || WorldSize == 1) return; // a rank that learnt of another's failure, or timed out, has nothing to add
        Failed = true;
        byte[] text = Encoding.UTF8.GetBytes(message.Length > 2000 ? message[..2000] : message);
        var handles = new List<GCHandle>();
        try
        {
            var sends = new List<IntPtr>();
            var acks = new List<IntPtr>();
            var ackBuffers = new List<byte[]>();
            GCHandle pinnedText = GCHandle.Alloc(text, GCHandleType.Pinned);
            handles.Add(pinnedText);
            for (int peer = 0; peer < WorldSize; peer++)
            {
                if (peer == Rank) continue;
                if (Native.MPI_Isend(pinnedText.AddrOfPinnedObject(), text.Length, _byte, peer, FailureTag, _world, out IntPtr send) != 0) continue;
                sends.Add(send);
                var ack = new byte[1];
                GCHandle pinnedAck = GCHandle.Alloc(ack, GCHandleType.Pinned);
                handles.Add(pinnedAck);
                ackBuffers.Add(ack);
                if (Native.MPI_Irecv(pinnedAck.AddrOfPinnedObject(), 1, _byte, peer, AckTag, _world, out IntPtr receive) == 0) acks.Add(receive);
            }
            // Wait (bounded) until every peer has read the notice; a peer that is itself gone never answers, and one that
            // failed at the same time (an error every rank meets, such as a non-finite loss under NonFinitePolicy.Stop)
            // is waiting for acknowledgements too: answer its notice meanwhile, so that neither waits for the limit.
            IntPtr[] requests = sends.Concat(acks).ToArray();
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed < TimeSpan.FromSeconds(Math.Min(30, _timeout.TotalSeconds)))
            {
                if (Native.MPI_Testall(requests.Length, requests, out int done, IntPtr.Zero) != 0 || done != 0) break;
                AcknowledgeNotices();
                Thread.Sleep(1);
            }
        }
        finally
        {
            foreach (GCHandle handle in handles) handle.Free();
        }
    }

    /// <summary>Reads and acknowledges the failure notices that have arrived (while this rank reports its own).</summary>
    private void AcknowledgeNotices()
    {
        var status = new byte[StatusBytes];
        while (Native.MPI_Iprobe(AnySource, FailureTag, _world, out int found, status) == 0 && found != 0)
        {
            int source = BitConverter.ToInt32(status, 0);
            if (Native.MPI_Get_count(status, _byte, out int length) != 0) return;
            var text = new byte[Math.Max(1, length)];
            if (Native.MPI_Recv(text, length, _byte, source, FailureTag, _world, IntPtr.Zero) != 0) return;
            SendAndWait(source, AckTag, [1], TimeSpan.FromSeconds(1));
        }
    }

    private void SendAndWait(int peer, int tag, byte[] payload, TimeSpan limit)
    {
        GCHandle pinned = GCHandle.Alloc(payload, GCHandleType.Pinned);
        try
        {
            if (Native.MPI_Isend(pinned.AddrOfPinnedObject(), payload.Length, _byte, peer, tag, _world, out IntPtr request) == 0)
                PollQuietly([request], limit);
        }
        finally
        {
            pinned.Free();
        }
    }

    private static void PollQuietly(IntPtr[] requests, TimeSpan limit)
    {
        if (requests.Length == 0) return;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < limit)
        {
            if (Native.MPI_Testall(requests.Length, requests, out int done, IntPtr.Zero) != 0 || done != 0) return;
            Thread.Sleep(1);
        }
    }

    public void Dispose()
    {
        // After a failure some requests never complete and MPI_Finalize could wait for them: the process exits without it
        // (mpirun then reports the non-zero exit). A clean end meets at a barrier first, so no rank leaves early.
        if (!_initializedHere || Failed) return;
        if (WorldSize > 1)
        {
            Check(Native.MPI_Ibarrier(_world, out IntPtr barrier), "MPI_Ibarrier");
            Wait([barrier], "the final barrier");
        }
        Native.MPI_Finalize();
    }

    private const int StatusBytes = 64; // Open MPI's MPI_Status is 24 bytes; room to spare

    private static void Check(int code, string call)
    {
        if (code == 0) return;
        var text = new byte[512];
        string detail = Native.MPI_Error_string(code, text, out int length) == 0 ? Encoding.ASCII.GetString(text, 0, length) : $"error {code}";
        throw new DistributedException($"{call} failed: {detail}.");
    }

    private static class Native
    {
        private const string Lib = NativeLibraries.Mpi;
        [DllImport(Lib)] public static extern int MPI_Initialized(out int flag);
        [DllImport(Lib)] public static extern int MPI_Init_thread(IntPtr argc, IntPtr argv, int required, out int provided);
        [DllImport(Lib)] public static extern int MPI_Comm_rank(IntPtr comm, out int rank);
        [DllImport(Lib)] public static extern int MPI_Comm_size(IntPtr comm, out int size);
        [DllImport(Lib)] public static extern int MPI_Iallreduce(IntPtr send, IntPtr receive, int count, IntPtr type, IntPtr op, IntPtr comm, out IntPtr request);
        [DllImport(Lib)] public static extern int MPI_Ibcast(IntPtr buffer, int count, IntPtr type, int root, IntPtr comm, out IntPtr request);
        [DllImport(Lib)] public static extern int MPI_Ibarrier(IntPtr comm, out IntPtr request);
        [DllImport(Lib)] public static extern int MPI_Testall(int count, [In, Out] IntPtr[] requests, out int flag, IntPtr statuses);
        [DllImport(Lib)] public static extern int MPI_Iprobe(int source, int tag, IntPtr comm, out int flag, [Out] byte[] status);
        [DllImport(Lib)] public static extern int MPI_Get_count([In] byte[] status, IntPtr type, out int count);
        [DllImport(Lib)] public static extern int MPI_Recv([Out] byte[] buffer, int count, IntPtr type, int source, int tag, IntPtr comm, IntPtr status);
        [DllImport(Lib)] public static extern int MPI_Isend(IntPtr buffer, int count, IntPtr type, int dest, int tag, IntPtr comm, out IntPtr request);
        [DllImport(Lib)] public static extern int MPI_Irecv(IntPtr buffer, int count, IntPtr type, int source, int tag, IntPtr comm, out IntPtr request);
        [DllImport(Lib)] public static extern int MPI_Finalize();
        [DllImport(Lib)] public static extern int MPI_Error_string(int code, [Out] byte[] text, out int length);
    }
}
