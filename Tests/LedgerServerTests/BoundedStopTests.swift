import Foundation
@testable import LedgerServer
import Testing

/// ``BoundedStop``: the stop returns when the service group does, or `limit` after the graceful
/// shutdown began when something in it cannot be interrupted (a read on a thread of its own).
@Suite struct BoundedStopTests {
    /// A service that returns: its result, at once, whether or not a shutdown began.
    @Test func aServiceThatReturnsIsWaitedFor() async throws {
        let (started, observer) = AsyncStream<Void>.makeStream()
        let ending = await BoundedStop.run({ try await Task.sleep(for: .milliseconds(50)) }, shutdownStarted: started, limit: .seconds(60))
        guard case .finished(.success) = ending else { Issue.record("\(ending)"); return }
        observer.finish()
    }

    /// Its error is handed back as it is.
    @Test func aServiceThatThrowsGivesItsError() async throws {
        struct Failure: Error {}
        let (started, _) = AsyncStream<Void>.makeStream(of: Void.self)
        let ending = await BoundedStop.run({ throw Failure() }, shutdownStarted: started, limit: .seconds(60))
        guard case .finished(.failure(let error)) = ending, error is Failure else { Issue.record("\(ending)"); return }
    }

    /// A service blocked on a thread that no cancellation reaches (as a handler waiting for a
    /// long LMDB read is): the run is abandoned `limit` after the shutdown began — not before it
    /// began, not when the service would have ended (released only at the test's end). No upper
    /// bound on the time: in a whole-suite run the cooperative pool, whose timers this uses, can be
    /// busy for minutes.
    @Test func aServiceThatCannotBeInterruptedIsLeftAfterTheLimit() async throws {
        let (started, observer) = AsyncStream<Void>.makeStream()
        let release = DispatchSemaphore(value: 0)
        let clock = ContinuousClock()
        let begin = clock.now
        Task {
            try await Task.sleep(for: .milliseconds(300))
            observer.yield()
        }
        let ending = await BoundedStop.run({
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                Thread { _ = release.wait(timeout: .now() + 3600); c.resume() }.start()
            }
        }, shutdownStarted: started, limit: .milliseconds(400))
        let elapsed = clock.now - begin
        guard case .abandoned = ending else { Issue.record("\(ending)"); return }
        // 300 ms before the shutdown began, then the 400 ms limit.
        #expect(elapsed >= .milliseconds(700), "\(elapsed)")
        release.signal()
    }
}
