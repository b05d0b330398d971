import Dispatch
import Foundation

/// A buffer shared by `concurrentPerform` workers that write disjoint indexes (invariant for
/// `@unchecked Sendable`: no two workers touch the same element, and the buffer outlives them).
struct UncheckedSendableBuffer<T>: @unchecked Sendable {
    let buffer: UnsafeMutableBufferPointer<T?>
}

/// Decoding of independent records (webhook elements, JSON lines) on every core.
enum Parallel {
    /// The cores this process may use, asked once: `activeProcessorCount` reads the cgroup's files
    /// at every call (an `open` and a `read` each: 10 % of a fuzzing run's time went there).
    static let cores = ProcessInfo.processInfo.activeProcessorCount

    /// Fewer records than this are decoded on the calling thread, in one run.
    static let smallestParallelBatch = 512

    /// Runs `body` once for each contiguous run of `elements`' indexes, four runs per core (one run
    /// in all for fewer than 512 elements); the results come back in run order.
    ///
    /// - Parameter retired: decoded records the caller is done with (the parts a stream handed back
    ///   before): they are released by the workers, each its share, so that freeing their events'
    ///   memory is spread over the cores instead of left to the caller's thread between batches.
    ///   Emptied on return.
    static func mapRuns<T: Sendable>(_ elements: [Range<Int>], releasing retired: inout [ParsedInput],
                                     _ body: @Sendable (Range<Int>) -> T) -> [T] {
        let count = elements.count
        // Four runs a core, taken by the cores as they come free: records differ in cost, and one
        // run a core would leave a core idle while the slowest run ends.
        let workers = count < smallestParallelBatch ? 1 : min(cores * 4, count / 256)
        let old = UnsafeMutableBufferPointer<ParsedInput?>.allocate(capacity: retired.count)
        old.initialize(repeating: nil)
        for k in old.indices.reversed() { old[k] = retired.popLast() }  // moved, not copied: the slots hold the only references
        defer { _ = old.deinitialize(); old.deallocate() }
        let oldBox = UncheckedSendableBuffer(buffer: old)
        guard workers > 1 else {
            for k in old.indices { old[k] = nil }
            return [body(0..<count)]
        }
        let results = UnsafeMutableBufferPointer<T?>.allocate(capacity: workers)
        results.initialize(repeating: nil)
        defer { _ = results.deinitialize(); results.deallocate() }
        let box = UncheckedSendableBuffer(buffer: results)
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            for k in stride(from: w, to: oldBox.buffer.count, by: workers) { oldBox.buffer[k] = nil }  // each slot released by one worker only
            box.buffer[w] = body((count * w / workers)..<(count * (w + 1) / workers))  // each slot written by one worker only
        }
        return results.map { $0! }
    }

    /// ``mapRuns(_:releasing:_:)`` with nothing to release.
    static func mapRuns<T: Sendable>(_ elements: [Range<Int>], _ body: @Sendable (Range<Int>) -> T) -> [T] {
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
        }
    }
}
