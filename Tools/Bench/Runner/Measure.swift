#if canImport(Glibc)
import Glibc
#endif

/// Monotonic wall-clock seconds.
func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// CPU seconds of the calling thread (`CLOCK_THREAD_CPUTIME_ID`): steadier than wall time on a
/// shared machine, for comparing builds of the single-threaded append.
func threadCPU() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// Seconds `body` takes.
func timed<R>(_ body: () throws -> R) rethrows -> (R, Double) {
    let t0 = now()
    let r = try body()
    return (r, now() - t0)
}

/// Peak resident memory of this process (Linux `VmHWM`), and its reset (`/proc/self/clear_refs`
/// "5", Linux ≥ 4.0), so that each phase reports its own peak.
enum PeakMemory {
    static func reset() {
        if let f = fopen("/proc/self/clear_refs", "w") { fputs("5", f); fclose(f) }
    }

    /// Peak resident bytes since the last ``reset()`` (`VmHWM`: anonymous memory plus the pages of
    /// mapped files, LMDB's map included), or 0 when unknown.
    static func read() -> Int { field("VmHWM:") }

    /// Resident anonymous memory now (`RssAnon`: the heap, without the pages of mapped files, which
    /// the kernel can drop and read again), bytes.
    static func anonymous() -> Int { field("RssAnon:") }

    private static func field(_ name: String) -> Int {
        guard let f = fopen("/proc/self/status", "r") else { return 0 }
        defer { fclose(f) }
        var line = [CChar](repeating: 0, count: 256)
        while fgets(&line, 256, f) != nil {
            let s = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if s.hasPrefix(name) {
                let digits = s.filter(\.isNumber)
                return (Int(digits) ?? 0) * 1024
            }
        }
        return 0
    }
}

/// The p-th percentile (0…100) of `values` (nearest rank).
func percentile(_ values: [Double], _ p: Double) -> Double {
    guard !values.isEmpty else { return 0 }
    let sorted = values.sorted()
    let rank = Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1
    return sorted[max(0, min(sorted.count - 1, rank))]
}

/// Runs a program, waits for it, and returns its exit status, wall seconds, peak RSS (bytes, from
/// `wait4`'s rusage) and standard output.
func runProgram(_ path: String, _ arguments: [String]) throws -> (status: Int32, seconds: Double, peakRSS: Int, output: String) {
    var pipe: [Int32] = [0, 0]
    guard Glibc.pipe(&pipe) == 0 else { throw BenchError("pipe failed") }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, pipe[1], 1)
    posix_spawn_file_actions_addclose(&actions, pipe[0])
    let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
    defer { for p in argv { free(p) } }
    var pid: pid_t = 0
    let t0 = now()
    let rc = posix_spawn(&pid, path, &actions, nil, argv, environ)
    close(pipe[1])
    guard rc == 0 else { close(pipe[0]); throw BenchError("cannot run \(path): \(String(cString: strerror(rc)))") }
    var output: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = read(pipe[0], &buffer, buffer.count)
        if n <= 0 { break }
        output += buffer[0..<n]
    }
    close(pipe[0])
    var status: Int32 = 0
    var usage = rusage()
    _ = wait4(pid, &status, 0, &usage)
    let seconds = now() - t0
    let exit = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    return (exit, seconds, usage.ru_maxrss * 1024, String(decoding: output, as: UTF8.self))
}

/// Total size of the regular files in a directory (or of one file), bytes.
func diskBytes(_ path: String) -> Int {
    var st = stat()
    guard stat(path, &st) == 0 else { return 0 }
    if st.st_mode & S_IFMT != S_IFDIR { return Int(st.st_size) }
    guard let dir = opendir(path) else { return 0 }
    defer { closedir(dir) }
    var total = 0
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        if name == "." || name == ".." { continue }
        total += diskBytes(path + "/" + name)
    }
    return total
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
