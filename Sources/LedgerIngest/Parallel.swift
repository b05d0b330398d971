import Dispatch
import Foundation

/// Decoding of independent records (webhook elements, JSON lines) on every core.
enum Parallel {
    /// The cores this process may use, asked once: `activeProcessorCount` reads the cgroup's files
    /// at every call (an `open` and a `read` each: 10 % of a fuzzing run's time went there).
    static let cores = ProcessInfo.processInfo.activeProcessorCount

    /// Fewer records than this are decoded on the calling thread, in one run.
    static let smallestParallelBatch = 512

    /// Runs `body` once for each contiguous run of `elements`' indexes, four runs per core (one run
    /// in all for fewer than 512 elements); the results come back in run order. The calling thread
    /// takes runs too (``Runs``).
    ///
    /// - Parameter retired: decoded records the caller is done with (the parts a stream handed back
    ///   before): they are released by the workers, each its share, so that freeing their events'
    ///   memory is spread over the cores instead of left to the caller's thread between batches.
    ///   Emptied on return.
    static func mapRuns<T: Sendable>(_ elements: [Range<Int>], releasing retired: inout [ParsedInput],
                                     _ body: @escaping @Sendable (Range<Int>) -> T) -> [T] {
        let runs = Runs(elements.count, releasing: &retired, body)
        runs.start(helpers: cores - 1)
        return runs.finish()
    }

    /// Contiguous runs of records decoded by whoever is free: pool threads started by ``start(helpers:)``
    /// and the thread that calls ``finish()``, which takes the runs left rather than blocking (a
    /// stream's thread finishes locating the next batch, then helps decode this one). Runs are taken
    /// in order from a counter under a lock (a few dozen per batch); each result is written by the one
    /// thread that took its run (the invariant of `@unchecked Sendable`), and read once every run
    /// taken has ended (under the same lock).
    final class Runs<T: Sendable>: @unchecked Sendable {
        /// The number of runs.
        let count: Int
        private let records: Int
        private let body: @Sendable (Range<Int>) -> T
        private let results: UnsafeMutableBufferPointer<T?>
        /// Records handed back by the caller, released by the run takers (slot `k` by whoever takes run `k % count`).
        private let retired: UnsafeMutableBufferPointer<ParsedInput?>
        /// Guards `taken` and `running`; signalled when the last running run ends.
        private let condition = NSCondition()
        private var taken = 0
        private var running = 0

        /// Splits `records` records into four runs a core (taken by the cores as they come free:
        /// records differ in cost, and one run a core would leave a core idle while the slowest
        /// ends), or one run for fewer than ``Parallel/smallestParallelBatch``.
        init(_ records: Int, releasing retired: inout [ParsedInput], _ body: @escaping @Sendable (Range<Int>) -> T) {
            self.records = records
            self.body = body
            count = records < smallestParallelBatch ? 1 : max(1, min(cores * 4, records / 256))
            results = .allocate(capacity: count)
            results.initialize(repeating: nil)
            self.retired = .allocate(capacity: retired.count)
            self.retired.initialize(repeating: nil)
            for k in self.retired.indices.reversed() { self.retired[k] = retired.popLast() }  // moved, not copied: the slots hold the only references
        }

        deinit {
            _ = results.deinitialize()
            results.deallocate()
            _ = retired.deinitialize()
            retired.deallocate()
        }

        /// Starts `helpers` pool threads taking runs (none for a single run).
        func start(helpers: Int) {
            guard count > 1 else { return }
            for _ in 0..<min(helpers, count) {
                DispatchQueue.global().async { [self] in work() }
            }
        }

        /// Takes runs on the calling thread until none is left, waits for the runs other threads
        /// are still decoding, and returns the results in run order. It never waits for a helper
        /// that has not started: on a pool whose threads are all busy (Swift concurrency's, in
        /// `ledger serve`, shares libdispatch's) such a helper might never get a thread — waiting
        /// for it deadlocked the server's webhook tests.
        func finish() -> [T] {
            work()
            condition.lock()
            while running > 0 { condition.wait() }
            condition.unlock()
            return results.map { $0! }
        }

        private func take() -> Int? {
            condition.lock()
            defer { condition.unlock() }
            guard taken < count else { return nil }
            taken += 1
            running += 1
            return taken - 1
        }

        private func done() {
            condition.lock()
            running -= 1
            if running == 0 { condition.broadcast() }
            condition.unlock()
        }

        private func work() {
            while let w = take() {
                for k in stride(from: w, to: retired.count, by: count) { retired[k] = nil }
                results[w] = body((records * w / count)..<(records * (w + 1) / count))
                done()
            }
        }
    }

    /// ``mapRuns(_:releasing:_:)`` with nothing to release.
    static func mapRuns<T: Sendable>(_ elements: [Range<Int>], _ body: @escaping @Sendable (Range<Int>) -> T) -> [T] {
        var none: [ParsedInput] = []
        return mapRuns(elements, releasing: &none, body)
    }
}

extension ParsedInput {
    /// One run of records decoded into a part (``Parallel/mapRuns(_:releasing:_:)``'s body for every
    /// reader): `decode` adds record `i`'s events or skipped counts to the part; a record it refuses
    /// ends the part with that error, or with `skipInvalid` becomes a rejected record of `raw(i)`.
    static func part(format: InputFormat, records run: Range<Int>, skipInvalid: Bool, raw: (Int) -> [UInt8],
                     _ decode: (Int, inout ParsedInput) throws(IngestError) -> Void) -> Result<ParsedInput, IngestError> {
        var part = ParsedInput(format: format)
        for i in run {
            do throws(IngestError) {
                try decode(i, &part)
            } catch {
                guard skipInvalid else { return .failure(error) }
                part.rejected.append(RejectedRecord(error: error, raw: raw(i)))
            }
        }
        return .success(part)
    }

    /// The parts decoded by ``Parallel/mapRuns(_:_:)``, joined in order: the first failed part's
    /// error is thrown (its runs before it all succeeded, so it is the lowest record's error).
    init(joining parts: [Result<ParsedInput, IngestError>], format: InputFormat) throws(IngestError) {
        self.init(format: format)
        for part in parts {
            let part = try part.get()
            if events.isEmpty {
                events = part.events
                locations = part.locations
            } else {
                events.append(contentsOf: part.events)
                locations.append(contentsOf: part.locations)
            }
            rejected.append(contentsOf: part.rejected)
            skipped.merge(part.skipped, uniquingKeysWith: +)
            skippedIncomplete.merge(part.skippedIncomplete, uniquingKeysWith: +)
        }
    }
}
