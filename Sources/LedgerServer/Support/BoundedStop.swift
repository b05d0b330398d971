import ServiceLifecycle

/// Bounds how long the service takes to stop once its graceful shutdown has begun.
///
/// swift-service-lifecycle's `maximumGracefulShutdownDuration` cancels the services when it runs
/// out, but a request whose handler waits for a read running on a thread of its own (an LMDB read
/// transaction walking a whole delivery) cannot be interrupted by a task's cancellation, and the
/// HTTP service — so the `ServiceGroup` — does not return until that handler does. A tester's
/// abandoned `GET /api/quarantine` kept the process alive 144 s after SIGTERM, past systemd's
/// `TimeoutStopSec` (then SIGKILL). Reads change nothing: the stop need not wait for them.
///
/// ``run(_:shutdownStarted:limit:)`` runs the service group in a task of its own and returns when it
/// ends, or `limit` after its graceful shutdown began (whatever still runs then is left running; the
/// caller checkpoints and the process exits). Appends are not concerned: they run on the writer's
/// serial queue, and the checkpoint that follows the stop is queued behind them.
enum BoundedStop {
    /// How the run ended.
    enum Ending: Sendable {
        /// The service group returned (or threw).
        case finished(Result<Void, any Error>)
        /// `limit` passed after the graceful shutdown began, with the service group still running.
        case abandoned
    }

    /// Runs `service` until it ends, or until `limit` after `shutdownStarted` yields.
    static func run(_ service: @escaping @Sendable () async throws -> Void, shutdownStarted: AsyncStream<Void>,
                    limit: Duration) async -> Ending {
        let (results, result) = AsyncStream<Result<Void, any Error>>.makeStream()
        // Not a child task: a child the group would wait for at the end of the scope.
        Task {
            do {
                try await service()
                result.yield(.success(()))
            } catch {
                result.yield(.failure(error))
            }
            result.finish()
        }
        return await withTaskGroup(of: Ending?.self) { group in
            group.addTask {
                for await r in results { return .finished(r) }
                return nil
            }
            group.addTask {
                for await _ in shutdownStarted {
                    do { try await Task.sleep(for: limit) } catch { return nil }
                    return .abandoned
                }
                return nil  // no shutdown began: the other task answers
            }
            while let next = await group.next() {
                if let ending = next {
                    group.cancelAll()  // both children end on cancellation: leaving the group waits for neither
                    return ending
                }
            }
            return .abandoned  // unreachable: the service's task always yields its result
        }
    }
}

/// A service of the group that only tells when the graceful shutdown begins. Listed after the HTTP
/// service, it is told first (a `ServiceGroup` shuts its services down in reverse order) and returns
/// at once, so the HTTP service's own shutdown follows without delay.
struct ShutdownObserver: Service {
    let started: AsyncStream<Void>.Continuation

    func run() async throws {
        do {
            try await gracefulShutdown()
            started.yield()
        } catch {
            // Cancelled (the group stops on an error): no graceful shutdown to observe.
        }
        started.finish()
    }
}
