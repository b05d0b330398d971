import DeliveryLedger
import Synchronization

/// Group commit for the webhook endpoints: the batches of concurrent requests are appended together,
/// in one write transaction and one fsync (``Ledger/append(group:)``), and each request is answered
/// with its own batch's result once that commit is durable.
///
/// How the group forms: a request's batch waits in a queue; when no commit is running, one starts on
/// the writer thread at once with everything queued (so a lone request waits for nothing), and the
/// batches that arrive while it runs form the next group. The latency added to a request is therefore
/// at most one commit in progress, never a timer. A group holds at most ``maximumEvents`` events
/// (a request larger than that forms a group alone), which bounds each commit's duration.
///
/// Each batch stays atomic on its own: an invalid or conflicting batch fails alone (see
/// ``Ledger/append(group:)``).
final class GroupCommit: Sendable {
    private struct Waiting {
        let batch: PreparedBatch
        let continuation: CheckedContinuation<Result<AppendResult, LedgerError>, Never>
    }

    private struct State {
        var waiting: [Waiting] = []
        var committing = false
    }

    private let state = Mutex(State())
    private let ledger: Ledger
    private let work: BlockingWork
    private let metrics: ServerMetrics
    /// The most events one commit takes (default 50,000: 50 SparkPost batches of 1,000).
    let maximumEvents: Int

    init(ledger: Ledger, work: BlockingWork, metrics: ServerMetrics, maximumEvents: Int = 50_000) {
        self.ledger = ledger
        self.work = work
        self.metrics = metrics
        self.maximumEvents = maximumEvents
    }

    /// Appends `batch` (made ready by ``Ledger/prepare(_:)`` on the request's decoding thread: the
    /// writer thread is the service's bottleneck) atomically with the batches of other requests;
    /// returns once the commit that holds it is durable (or the batch was refused: nothing of it appended).
    func append(_ batch: PreparedBatch) async -> Result<AppendResult, LedgerError> {
        await withCheckedContinuation { continuation in
            let start = state.withLock { state -> Bool in
                state.waiting.append(Waiting(batch: batch, continuation: continuation))
                if state.committing { return false }
                state.committing = true
                return true
            }
            if start { work.submitWrite { self.commitWhileWaiting() } }
        }
    }

    /// Runs on the writer thread: commits the queued batches, group after group, until none waits.
    private func commitWhileWaiting() {
        while true {
            let group: [Waiting] = state.withLock { state in
                var count = 0, events = 0
                while count < state.waiting.count,
                      count == 0 || events + state.waiting[count].batch.events.count <= maximumEvents {
                    events += state.waiting[count].batch.events.count
                    count += 1
                }
                if count == 0 { state.committing = false }
                let group = Array(state.waiting.prefix(count))
                state.waiting.removeFirst(count)
                return group
            }
            if group.isEmpty { return }
            let started = ContinuousClock.now
            let results = ledger.append(group: group.map(\.batch))
            metrics.groupCommit(ContinuousClock.now - started, batches: group.count)
            for (waiting, result) in zip(group, results) { waiting.continuation.resume(returning: result) }
        }
    }
}
