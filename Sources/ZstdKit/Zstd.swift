import CZstd
import Synchronization

/// An error returned by zstd, with the operation that failed (`ZSTD_getErrorName`'s text).
public struct ZstdError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The zstd / zdict function that failed, or the check that did.
    public var operation: String
    /// zstd's text for the error, or what the check found.
    public var message: String

    public init(operation: String, message: String) {
        self.operation = operation
        self.message = message
    }

    public var description: String { "zstd \(operation) failed: \(message)" }

    static func check(_ code: Int, _ operation: String) throws(ZstdError) -> Int {
        if ZSTD_isError(code) != 0 { throw ZstdError(operation: operation, message: String(cString: ZSTD_getErrorName(code))) }
        return code
    }
}

/// A compression dictionary (zstd's format, as `ZDICT_trainFromBuffer` or `zstd --train` make it),
/// digested once for compression and for decompression (`ZSTD_CDict` / `ZSTD_DDict`). Immutable:
/// zstd documents both digested forms as read-only, safe to share between threads.
public final class CompressionDictionary: @unchecked Sendable {
    /// The dictionary's bytes.
    public let bytes: [UInt8]
    /// The compression level frames made with it use.
    public let level: Int32
    private let cdict: OpaquePointer
    private let ddict: OpaquePointer

    /// Digests `bytes` for compression at `level` (zstd's levels, 1 fastest … 19; 3 is zstd's default).
    /// - Throws: ``ZstdError`` when zstd cannot digest them (not a dictionary, out of memory).
    public init(bytes: [UInt8], level: Int32 = 3) throws(ZstdError) {
        guard !bytes.isEmpty else { throw ZstdError(operation: "ZSTD_createCDict", message: "empty dictionary") }
        guard let c = bytes.withUnsafeBytes({ ZSTD_createCDict($0.baseAddress, $0.count, level) }) else {
            throw ZstdError(operation: "ZSTD_createCDict", message: "cannot digest the dictionary")
        }
        guard let d = bytes.withUnsafeBytes({ ZSTD_createDDict($0.baseAddress, $0.count) }) else {
            ZSTD_freeCDict(c)
            throw ZstdError(operation: "ZSTD_createDDict", message: "cannot digest the dictionary")
        }
        self.bytes = bytes
        self.level = level
        cdict = c
        ddict = d
    }

    deinit {
        ZSTD_freeCDict(cdict)
        ZSTD_freeDDict(ddict)
    }

    fileprivate var compressionDictionary: OpaquePointer { cdict }
    fileprivate var decompressionDictionary: OpaquePointer { ddict }
}

/// zstd frames (RFC 8878) for small documents: one-shot compression and decompression, with or
/// without a ``CompressionDictionary``, and dictionary training.
///
/// Frames are made with zstd's content checksum (4 bytes: decompression then fails on damaged bytes
/// instead of giving other bytes) and the content size in the header (checked too), without a
/// dictionary id (the caller records which dictionary it used).
public enum Zstd {
    /// zstd's default level (3), used without a dictionary.
    public static let defaultLevel: Int32 = 3

    /// Appends to `output` one zstd frame holding `source`.
    /// - Throws: ``ZstdError`` (out of memory).
    public static func compress(_ source: UnsafeRawBufferPointer, dictionary: CompressionDictionary?, into output: inout [UInt8]) throws(ZstdError) {
        let bound = ZSTD_compressBound(source.count)
        let start = output.count
        output.append(contentsOf: repeatElement(0, count: bound))
        let written = try compressionContexts.with { (cctx) throws(ZstdError) -> Int in
            _ = try ZstdError.check(ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters), "ZSTD_CCtx_reset")
            _ = try ZstdError.check(ZSTD_CCtx_setParameter(cctx, ZSTD_c_dictIDFlag, 0), "ZSTD_CCtx_setParameter")
            _ = try ZstdError.check(ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1), "ZSTD_CCtx_setParameter")
            if let dictionary {
                _ = try ZstdError.check(ZSTD_CCtx_refCDict(cctx, dictionary.compressionDictionary), "ZSTD_CCtx_refCDict")
            } else {
                _ = try ZstdError.check(ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, defaultLevel), "ZSTD_CCtx_setParameter")
            }
            let code = output.withUnsafeMutableBytes { out in
                ZSTD_compress2(cctx, out.baseAddress! + start, bound, source.baseAddress, source.count)
            }
            return try ZstdError.check(code, "ZSTD_compress2")
        }
        output.removeLast(bound - written)
    }

    /// The content of the zstd frame `frame` (exactly one frame, nothing after it).
    /// - Parameter maximumSize: the largest content accepted (a damaged header cannot make it
    ///   allocate more).
    /// - Throws: ``ZstdError`` when `frame` is not one valid frame of at most `maximumSize` bytes
    ///   made with `dictionary` (damage, a wrong dictionary, trailing bytes).
    public static func decompress(_ frame: UnsafeRawBufferPointer, dictionary: CompressionDictionary?, maximumSize: Int) throws(ZstdError) -> [UInt8] {
        let size = ZSTD_getFrameContentSize(frame.baseAddress, frame.count)
        if size == ZSTD_CONTENTSIZE_ERROR { throw ZstdError(operation: "ZSTD_getFrameContentSize", message: "not a zstd frame") }
        if size == ZSTD_CONTENTSIZE_UNKNOWN { throw ZstdError(operation: "ZSTD_getFrameContentSize", message: "the frame does not say its content size") }
        guard size <= UInt64(maximumSize) else {
            throw ZstdError(operation: "ZSTD_getFrameContentSize", message: "content of \(size) bytes, over the limit of \(maximumSize)")
        }
        let frameSize = ZSTD_findFrameCompressedSize(frame.baseAddress, frame.count)
        _ = try ZstdError.check(frameSize, "ZSTD_findFrameCompressedSize")
        guard frameSize == frame.count else {
            throw ZstdError(operation: "ZSTD_findFrameCompressedSize", message: "\(frame.count - frameSize) bytes after the frame")
        }
        var output = [UInt8](repeating: 0, count: Int(size))
        let written = try decompressionContexts.with { (dctx) throws(ZstdError) -> Int in
            let code = output.withUnsafeMutableBytes { out in
                if let dictionary {
                    return ZSTD_decompress_usingDDict(dctx, out.baseAddress, out.count, frame.baseAddress, frame.count, dictionary.decompressionDictionary)
                }
                return ZSTD_decompressDCtx(dctx, out.baseAddress, out.count, frame.baseAddress, frame.count)
            }
            return try ZstdError.check(code, "ZSTD_decompress")
        }
        guard written == Int(size) else {
            throw ZstdError(operation: "ZSTD_decompress", message: "\(written) bytes where the frame says \(size)")
        }
        return output
    }

    /// Trains a dictionary of at most `capacity` bytes on `samples` (`ZDICT_trainFromBuffer`, zstd's
    /// default fast-cover parameters). zstd advises samples totalling about 100 times the
    /// capacity, and fails when they are too few or too small.
    /// - Throws: ``ZstdError`` when training fails.
    public static func trainDictionary(samples: [[UInt8]], capacity: Int) throws(ZstdError) -> [UInt8] {
        var joined: [UInt8] = []
        joined.reserveCapacity(samples.reduce(0) { $0 + $1.count })
        var sizes: [Int] = []
        sizes.reserveCapacity(samples.count)
        for s in samples { joined += s; sizes.append(s.count) }
        var dictionary = [UInt8](repeating: 0, count: capacity)
        let n = dictionary.withUnsafeMutableBytes { d in
            joined.withUnsafeBytes { j in
                sizes.withUnsafeBufferPointer { z in
                    ZDICT_trainFromBuffer(d.baseAddress, d.count, j.baseAddress, z.baseAddress, UInt32(z.count))
                }
            }
        }
        if ZDICT_isError(n) != 0 { throw ZstdError(operation: "ZDICT_trainFromBuffer", message: String(cString: ZDICT_getErrorName(n))) }
        dictionary.removeLast(capacity - n)
        return dictionary
    }

    // Contexts are reused (each holds ~100 KiB of work space): one per concurrent caller.
    private static let compressionContexts = ContextPool(create: { ZSTD_createCCtx() }, free: { _ = ZSTD_freeCCtx($0) })
    private static let decompressionContexts = ContextPool(create: { ZSTD_createDCtx() }, free: { _ = ZSTD_freeDCtx($0) })
}

/// zstd contexts (not thread-safe) lent to one caller at a time; at most a few kept.
private final class ContextPool: Sendable {
    private let idle = Mutex<[UnsafeContext]>([])
    private let create: @Sendable () -> OpaquePointer?
    private let free: @Sendable (OpaquePointer) -> Void

    /// An idle context: used by one thread at a time (taken out of the pool while in use).
    private struct UnsafeContext: @unchecked Sendable { let pointer: OpaquePointer }

    init(create: @escaping @Sendable () -> OpaquePointer?, free: @escaping @Sendable (OpaquePointer) -> Void) {
        self.create = create
        self.free = free
    }

    func with<R>(_ body: (OpaquePointer) throws(ZstdError) -> R) throws(ZstdError) -> R {
        let context: OpaquePointer
        if let c = idle.withLock({ $0.popLast() }) {
            context = c.pointer
        } else if let c = create() {
            context = c
        } else {
            throw ZstdError(operation: "ZSTD_createCCtx/DCtx", message: "out of memory")
        }
        defer {
            let kept = idle.withLock { list -> Bool in
                guard list.count < 8 else { return false }
                list.append(UnsafeContext(pointer: context))
                return true
            }
            if !kept { free(context) }
        }
        return try body(context)
    }
}
