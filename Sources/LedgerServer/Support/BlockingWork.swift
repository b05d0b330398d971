import Dispatch

/// Runs blocking ledger work — LMDB transactions, the fsync of an append — on threads of its own, off
/// Swift's cooperative pool (style rule 7): appends on one serial queue (LMDB has one writer at a
/// time anyway, so a second writer thread would only wait), reads on a concurrent queue (LMDB readers
/// never block the writer nor each other).
final class BlockingWork: Sendable {
    private let writer = DispatchQueue(label: "delivery-ledger.server.writer", qos: .userInitiated)
    private let decoders = DispatchQueue(label: "delivery-ledger.server.decoders", qos: .utility, attributes: .concurrent)
    private let readers = DispatchQueue(label: "delivery-ledger.server.readers", qos: .userInitiated, attributes: .concurrent)
    /// One at a time: the reads that walk a whole delivery or every address (quarantine, audit,
    /// timeline) — a few of them at once took every reader thread (one per core), and probes,
    /// metrics and pages waited seconds behind them (found by a tester: `/readyz` 4.4 s).
    private let heavyReaders = DispatchQueue(label: "delivery-ledger.server.heavy-readers", qos: .utility)

    /// Runs `body` on the writer queue and returns its result.
    func write<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            writer.async { continuation.resume(with: Result { try body() }) }
        }
    }

    /// Queues `body` on the writer queue without waiting for it (group commit runs its loop there).
    func submitWrite(_ body: @escaping @Sendable () -> Void) {
        writer.async(execute: body)
    }

    /// Runs CPU-bound work (decoding a request body) on a concurrent queue of its own, so that the
    /// cooperative pool stays free to accept connections and answer reads while large batches decode.
    func compute<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            decoders.async { continuation.resume(with: Result { try body() }) }
        }
    }

    /// Runs `body`, a read that may walk a whole delivery or every address, on the heavy-read lane
    /// (one at a time, so that other reads keep their threads) and returns its result.
    func readHeavy<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            heavyReaders.async { continuation.resume(with: Result { try body() }) }
        }
    }

    /// Runs `body` on the reader queue and returns its result.
    func read<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            readers.async { continuation.resume(with: Result { try body() }) }
        }
    }
}
