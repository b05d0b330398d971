import Dispatch
import Foundation

/// Runs blocking work (the in-process CLI, a corpus evaluation that waits for its worker processes)
/// on a thread outside Swift's cooperative pool. The pool has one thread per core and every test of
/// the run shares it — including the servers of the service's tests, whose handlers need a pool
/// thread to answer: a long synchronous test on each pool thread would stall them all.
public func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try body() }) }
    }
}

/// Runs blocking socket work on a thread of its own — neither Swift's cooperative pool nor
/// Dispatch's global queues, whose few threads a server under test needs to answer while the other
/// tests of the run load the machine.
public func onThreadOfItsOwn<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}
