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

    /// Runs `body` for every element, spread over the machine's cores in contiguous chunks; results
    /// come back in element order.
    static func map<T: Sendable>(_ elements: [Range<Int>], _ body: @Sendable (Int, Range<Int>) -> T) -> [T] {
        let count = elements.count
        let workers = count < 512 ? 1 : min(cores, count / 256)
        guard workers > 1 else { return elements.enumerated().map { body($0.offset, $0.element) } }
        let results = UnsafeMutableBufferPointer<T?>.allocate(capacity: count)
        results.initialize(repeating: nil)
        defer { _ = results.deinitialize(); results.deallocate() }
        let box = UncheckedSendableBuffer(buffer: results)
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            let lower = count * w / workers, upper = count * (w + 1) / workers
            for i in lower..<upper { box.buffer[i] = body(i, elements[i]) }  // each index written by one worker only
        }
        return results.map { $0! }
    }

}
