import Dispatch
import Foundation

/// Runs blocking work (the in-process CLI, a corpus evaluation that waits for its worker processes)
/// on a thread of its own, outside Swift's cooperative pool and Dispatch's global queues. The pool
/// has one thread per core and every test of the run shares it — including the servers of the
/// service's tests, whose handlers need a pool thread to answer: a long synchronous test on each
/// pool thread would stall them all. Dispatch's global queues are no way out: their threads are as
/// few, and a chromium run of the browser test held one for seconds while a server under test
/// waited a minute for a thread to answer (`expectContinueIsAnsweredBeforeTheBody`, in whole-suite runs).
public func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await onThreadOfItsOwn(body)
}

/// Runs blocking socket work on a thread of its own — neither Swift's cooperative pool nor
/// Dispatch's global queues, whose few threads a server under test needs to answer while the other
/// tests of the run load the machine.
public func onThreadOfItsOwn<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}
