import DeliveryLedger
import Foundation

/// The checked events of an input too large for one atomic batch, kept in a temporary file between
/// `ledger ingest`'s check of every record (pass 1) and its append (pass 2), so that the input is
/// read and decoded once (decoding — JSON, qualification — costs more than the append; reading a
/// spilled event back is a copy).
///
/// Each entry: the input's index (UInt32), the record's location (UInt32 length + UTF-8), the
/// event (UInt32 length + ``Event/serializedRecord()``), integers in the machine's byte order (the
/// file never leaves the process). The file is created 0600 in the temporary directory (`TMPDIR`)
/// and unlinked at once: it disappears when the process ends, however it ends.
final class EventSpill {
    private let fd: Int32
    private let path: String
    private var buffer: [UInt8] = []
    private var written: Int64 = 0
    /// Entries written.
    private(set) var count = 0

    static let bufferSize = 1 << 20

    init() throws {
        var template = Array((NSTemporaryDirectory() + "/ledger-ingest-XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        let path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard fd >= 0 else {
            throw CLIError("cannot create a temporary file for the checked events in \(NSTemporaryDirectory()) (TMPDIR): \(String(cString: strerror(errno))). Nothing was appended.")
        }
        unlink(path)
        self.fd = fd
        self.path = path
        buffer.reserveCapacity(Self.bufferSize)
    }

    deinit { close(fd) }

    /// Keeps `event`, read from input number `file` at `location`.
    func write(_ event: Event, file: Int, location: String) throws {
        let record = event.serializedRecord()
        append(UInt32(file))
        append(UInt32(location.utf8.count))
        buffer.append(contentsOf: location.utf8)
        append(UInt32(record.count))
        buffer.append(contentsOf: record)
        count += 1
        if buffer.count >= Self.bufferSize { try flush() }
    }

    private func append(_ v: UInt32) {
        withUnsafeBytes(of: v) { buffer.append(contentsOf: $0) }
    }

    /// Writes what is buffered.
    func flush() throws {
        try buffer.withUnsafeBytes { bytes in
            var done = 0
            while done < bytes.count {
                let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(written) + off_t(done))
                if n < 0 {
                    if errno == EINTR { continue }
                    // EFBIG: the process's file-size limit (`ulimit -f`), named as the ledger's own writes name it.
                    let reason = errno == EFBIG ? "the process's file-size limit (ulimit -f: \(Ledger.fileSizeLimit().map(String.init) ?? "?") bytes) is reached (\(String(cString: strerror(errno))))"
                        : String(cString: strerror(errno))
                    throw CLIError("cannot keep the checked events in a temporary file in \(NSTemporaryDirectory()) (TMPDIR): \(reason). Nothing was appended.")
                }
                done += n
            }
        }
        written += Int64(buffer.count)
        buffer.removeAll(keepingCapacity: true)
    }

    /// Reads the entries back in order, `size` at a time: `body` gets the events with the input
    /// index and location of each.
    func forEachBatch(size: Int, _ body: ([Event], [(file: Int, location: String)]) throws -> Void) throws {
        try flush()
        var events: [Event] = []
        var locations: [(file: Int, location: String)] = []
        var chunk = [UInt8](repeating: 0, count: Self.bufferSize)
        var pending: [UInt8] = []   // the start of an entry cut by the end of a chunk
        var offset: Int64 = 0
        while offset < written {
            let n = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, $0.count, off_t(offset)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw CLIError("cannot read back the checked events from the temporary file: \(String(cString: strerror(errno)))")
            }
            guard n > 0 else { throw CLIError("the temporary file of the checked events ended early at byte \(offset)") }
            offset += Int64(n)
            pending.append(contentsOf: chunk[0..<n])
            var used = 0
            try pending.withUnsafeBytes { all in
                while true {
                    guard let (entry, length) = try Self.entry(in: all, at: used) else { break }
                    used += length
                    events.append(entry.event)
                    locations.append((entry.file, entry.location))
                    if events.count >= size {
                        try body(events, locations)
                        events.removeAll(keepingCapacity: true)
                        locations.removeAll(keepingCapacity: true)
                    }
                }
            }
            pending.removeFirst(used)
        }
        guard pending.isEmpty else { throw CLIError("the temporary file of the checked events ends inside an entry") }
        if !events.isEmpty { try body(events, locations) }
    }

    /// The entry at `start` of `bytes` and its length, or `nil` when the bytes end inside it.
    private static func entry(in bytes: UnsafeRawBufferPointer, at start: Int) throws
        -> ((file: Int, location: String, event: Event), Int)? {
        func u32(_ at: Int) -> Int? {
            guard at + 4 <= bytes.count else { return nil }
            return Int(bytes.loadUnaligned(fromByteOffset: at, as: UInt32.self))
        }
        guard let file = u32(start), let locationLength = u32(start + 4) else { return nil }
        let locationStart = start + 8
        guard let recordLength = u32(locationStart + locationLength) else { return nil }
        let recordStart = locationStart + locationLength + 4
        guard recordStart + recordLength <= bytes.count else { return nil }
        let location = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[locationStart..<(locationStart + locationLength)]), as: UTF8.self)
        let event: Event
        do {
            event = try Event(serializedRecord: UnsafeRawBufferPointer(rebasing: bytes[recordStart..<(recordStart + recordLength)]))
        } catch {
            throw CLIError("the temporary file of the checked events is damaged: \(error)")
        }
        return ((file, location, event), recordStart + recordLength - start)
    }
}
