import Foundation

/// A small tmpfs mounted on a fresh temporary directory, for tests of read-only files and full
/// disks (root ignores file modes, so `chmod` cannot make a file read-only for the tests; a
/// read-only mount can). Needs the right to mount (root in a container that allows it): where it
/// is missing, ``isAvailable`` is false and the tests that need it are disabled with that reason.
public final class ScratchMount: @unchecked Sendable {
    // Invariant: `path` is immutable; the mount's state changes only through `mount(8)`.
    public let path: String

    /// Mounts a tmpfs of `bytes` bytes.
    public init(bytes: Int) throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("ledger-mount-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try Self.mount(["-t", "tmpfs", "-o", "size=\(bytes),mode=0755", "tmpfs", path])
    }

    /// Remounts read-only (`mount -o remount,ro`) or read-write.
    public func remount(readOnly: Bool) throws { try Self.mount(["-o", "remount,\(readOnly ? "ro" : "rw")", path]) }

    /// Resizes the tmpfs (`mount -o remount,size=`).
    public func resize(bytes: Int) throws { try Self.mount(["-o", "remount,size=\(bytes)", path]) }

    deinit {
        _ = try? Self.run("/bin/umount", ["-l", path])
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Whether this process may mount a tmpfs (tried once).
    public static let isAvailable: Bool = {
        guard let probe = try? ScratchMount(bytes: 1 << 20) else { return false }
        return (try? probe.remount(readOnly: true)) != nil
    }()

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    private static func mount(_ arguments: [String]) throws {
        let (status, output) = try run("/bin/mount", arguments)
        guard status == 0 else { throw Failure(description: "mount \(arguments.joined(separator: " ")) failed (\(status)): \(output)") }
    }

    @discardableResult
    static func run(_ executable: String, _ arguments: [String]) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}

/// The `ledger` executable built beside the test bundle (`swift build --build-tests` and `swift
/// test` build it), for tests that need a second process.
public enum LedgerExecutable {
    /// Its path, or an error saying it is not built.
    public static func path() throws -> String {
        let bundle = URL(fileURLWithPath: CommandLine.arguments.first ?? "")
        var candidates = [Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("ledger").path]
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            var url = URL(fileURLWithPath: exe).deletingLastPathComponent()
            for _ in 0..<4 {
                candidates.append(url.appendingPathComponent("ledger").path)
                url = url.deletingLastPathComponent()
            }
        }
        candidates.append(bundle.deletingLastPathComponent().appendingPathComponent("ledger").path)
        for c in candidates where FileManager.default.isExecutableFile(atPath: c) { return c }
        throw ScratchMount.Failure(description: "the ledger executable is not built beside the tests (looked at \(candidates)); run swift build --build-tests")
    }

    /// Runs it with `arguments`; returns the exit status (a signal: 128 + its number), standard
    /// output and standard error.
    public static func run(_ arguments: [String]) throws -> (status: Int32, output: String, error: String, seconds: Double) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try path())
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let started = Date()
        try process.run()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let status = process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
        return (status, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self), Date().timeIntervalSince(started))
    }
}
