// A libFuzzer target for the JSON feed readers (issue #11): every input is read as a SparkPost
// document and as canonical JSON Lines, whole (FeedReader) and in small chunks (FeedStream), with
// and without skipInvalid. Nothing may crash, hang or trap; a read either succeeds or throws an
// IngestError, and the chunked read (13-byte chunks, batches of two elements, so that even a small
// input crosses batches of the pipelined reader) must give the same result as the whole read.
//
// Built with the fuzzer (README "Fuzzing"):
//   swift build -c release --scratch-path .build/fuzz --product ledger-fuzz \
//       -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING
//   .build/fuzz/release/ledger-fuzz -runs=10000000 Tools/Fuzz/corpus
// Without -DFUZZING it is a plain program that replays files through the same checks
// (`swift run ledger-fuzz crash-…`), and the ordinary build compiles it.
import LedgerIngest
#if canImport(Glibc)
import Glibc
#endif

/// With `LEDGER_FUZZ_LAYER=json` only the strict JSON reader is fuzzed (each input read with both
/// option sets; an accepted text's canonical serialisation must read back to the same value): about
/// a hundred times faster than the full readers, whose qualification rules dominate their cost.
let fuzzLayer = getenv("LEDGER_FUZZ_LAYER").map { String(cString: $0) } ?? "all"
let jsonLayerOnly = fuzzLayer == "json"

/// The formats each input is read as. `LEDGER_FUZZ_LAYER=feeds`: the SparkPost and JSON Lines
/// readers only (issue #11's long run), about eight times faster than every format.
let fuzzFormats: [InputFormat] = fuzzLayer == "feeds" ? [.sparkpost, .jsonl] : [.sparkpost, .jsonl, .auto] + InputFormat.providers

/// The JSON layer's checks.
func checkJSON(_ bytes: [UInt8]) {
    for strict in [false, true] {
        let canonical: [UInt8]
        do { canonical = try StrictJSON.canonical(bytes[...], rejectDuplicateNames: strict) } catch {
            precondition(error.offset.map { $0 >= 0 && $0 <= bytes.count } ?? false, "error without an offset in the text")
            continue
        }
        guard let again = try? StrictJSON.canonical(canonical[...]) else { preconditionFailure("canonical form refused") }
        precondition(again == canonical, "canonical form does not read back")
    }
}

/// Reads `bytes` in every way and checks that the ways agree; traps (a crash the fuzzer reports) if not.
func check(_ bytes: [UInt8]) {
    for format in fuzzFormats {
        for skip in [false, true] {
            let options = IngestOptions(format: format, skipInvalid: skip)
            let whole = Result { () throws(IngestError) in try FeedReader.read(bytes, file: "f", options: options) }
            var offset = 0
            var stream = FeedStream(file: "f", options: options, chunkSize: 13, recordsPerBatch: 2) { (n: Int) throws(IngestError) -> [UInt8] in
                let end = min(bytes.count, offset + n)
                defer { offset = end }
                return Array(bytes[offset..<end])
            }
            let streamed = Result { () throws(IngestError) -> ([String], Int) in
                var ids: [String] = []
                var rejected = 0
                while let batch = try stream.next() {
                    ids += batch.events.map(\.id)
                    rejected += batch.rejected.count
                }
                return (ids, rejected)
            }
            switch (whole, streamed) {
            case let (.success(a), .success(b)):
                precondition(a.events.map(\.id) == b.0 && a.rejected.count == b.1, "whole and chunked reads differ")
            case let (.failure(a), .failure(b)):
                precondition(a.line == b.line && a.element == b.element, "whole and chunked reads fail at different records: \(a) / \(b)")
            case let (.failure(a), .success):
                // A {…} document or a line too long is only a FeedReader error once it is whole: same verdict expected.
                preconditionFailure("whole read failed (\(a)) but the chunked read succeeded")
            case let (.success, .failure(b)):
                preconditionFailure("chunked read failed (\(b)) but the whole read succeeded")
            }
        }
    }
}

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard let data else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if jsonLayerOnly { checkJSON(bytes) } else { check(bytes) }
    return 0
}

/// libFuzzer's driver, entered from the executable's main (SwiftPM names it `<product>_main`).
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<Int32>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32

@_cdecl("ledger_fuzz_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var count = argc
    var arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments) { data, size in fuzzOneInput(data, size) }
}
#else
import Foundation

@main
struct ReplayFuzzInputs {
    static func main() {
        for path in CommandLine.arguments.dropFirst() {
            guard let data = FileManager.default.contents(atPath: path) else {
                print("\(path): cannot be read")
                continue
            }
            checkJSON(Array(data))
            check(Array(data))
            print("\(path): ok")
        }
    }
}
#endif
