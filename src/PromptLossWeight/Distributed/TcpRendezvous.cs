using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace PromptLossWeight.Distributed;

/// <summary>
/// Hands a small secret (the NCCL id) from rank 0 to every rank over TCP, the torchrun way: rank 0 listens at
/// <c>MASTER_ADDR:MASTER_PORT</c>; each other rank connects (retrying until rank 0 is up), sends its rank and reads the
/// bytes. Everything is bounded by a timeout; a missing or duplicated rank is an error that names it.
/// </summary>
internal static class TcpRendezvous
{
    private const int Magic = 0x504C5752; // "PLWR"

    /// <summary>Rank 0: waits for the other <paramref name="worldSize"/> - 1 ranks and sends each <paramref name="payload"/>.</summary>
    public static void Serve(int port, int worldSize, byte[] payload, TimeSpan timeout)
    {
        var listener = new TcpListener(IPAddress.Any, port);
        try
        {
            listener.Start(worldSize);
        }
        catch (SocketException ex)
        {
            throw new DistributedException($"rank 0: cannot listen on MASTER_PORT {port} for the rendezvous ({ex.Message}).", ex);
        }
        try
        {
            var clock = Stopwatch.StartNew();
            var joined = new HashSet<int>();
            while (joined.Count < worldSize - 1)
            {
                TimeSpan left = timeout - clock.Elapsed;
                Task<TcpClient> accept = listener.AcceptTcpClientAsync();
                if (left <= TimeSpan.Zero || !accept.Wait(left))
                    throw new DistributedException(
                        $"rank 0: the rendezvous on port {port} timed out after {timeout.TotalSeconds:0.#} s; ranks missing: " +
                        $"{string.Join(", ", Enumerable.Range(1, worldSize - 1).Where(r => !joined.Contains(r)))}.");
                using TcpClient client = accept.Result;
                using NetworkStream stream = client.GetStream();
                stream.ReadTimeout = stream.WriteTimeout = (int)Math.Clamp(left.TotalMilliseconds, 1, int.MaxValue);
                var header = new BinaryReader(stream);
                if (header.ReadInt32() != Magic) continue; // not one of ours
                int rank = header.ReadInt32();
                if (rank < 1 || rank >= worldSize) throw new DistributedException($"rank 0: a process joined the rendezvous as rank {rank}, outside 1..{worldSize - 1}.");
                if (!joined.Add(rank)) throw new DistributedException($"rank 0: rank {rank} joined the rendezvous twice (two processes with the same RANK).");
                var writer = new BinaryWriter(stream);
                writer.Write(payload.Length);
                writer.Write(payload);
                writer.Flush();
            }
        }
        finally
        {
            listener.Stop();
        }
    }

    /// <summary>Rank <paramref name="rank"/> &gt; 0: connects to rank 0 (retrying while it starts) and returns its payload.</summary>
    public static byte[] Join(string host, int port, int rank, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        Exception? last = null;
        while (clock.Elapsed < timeout)
        {
            try
            {
                using var client = new TcpClient();
                if (!client.ConnectAsync(host, port).Wait(TimeSpan.FromSeconds(5))) throw new TimeoutException("connect timed out");
                using NetworkStream stream = client.GetStream();
                stream.ReadTimeout = stream.WriteTimeout = (int)Math.Clamp((timeout - clock.Elapsed).TotalMilliseconds, 1, int.MaxValue);
                var writer = new BinaryWriter(stream);
                writer.Write(Magic);
                writer.Write(rank);
                writer.Flush();
                var reader = new BinaryReader(stream);
                int length = reader.ReadInt32();
                byte[] payload = reader.ReadBytes(length);
                if (payload.Length != length) throw new EndOfStreamException("rank 0 closed the connection early");
                return payload;
            }
            catch (Exception ex) when (ex is SocketException or IOException or TimeoutException or AggregateException)
            {
                last = ex;
                Thread.Sleep(200);
            }
        }
        throw new DistributedException(
            $"rank {rank}: could not reach rank 0 at {host}:{port} within {timeout.TotalSeconds:0.#} s ({last?.GetBaseException().Message ?? "no answer"}); " +
            "check MASTER_ADDR and MASTER_PORT and that rank 0 is running.");
    }
}
