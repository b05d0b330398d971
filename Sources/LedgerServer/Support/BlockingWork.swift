import Dispatch

/// Runs blocking ledger work — LMDB transactions, the fsync of an append — on threads of its own, off
/// Swift's cooperative pool (style rule 7): appends on one serial queue (LMDB has one writer at a
/// time anyway, so a second writer thread would only wait), reads on a concurrent queue (LMDB readers
/// never block the writer nor each other).
final class BlockingWork: Sendable {
    private let writer = DispatchQueue(label: "delivery-ledger.server.writer", qos: .userInitiated)
    private let readers = DispatchQueue(label: "delivery-ledger.server.readers", qos: .userInitiated, attributes: .concurrent)

    /// Runs `body` on the writer queue and returns its result.
    func write<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            writer.async { continuation.resume(with: Result { try body() }) }
        }
    }

    /// Runs `body` on the reader queue and returns its result.
    func read<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            readers.async { continuation.resume(with: Result { try body() }) }
        }
    }
}
