#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The last line of defence of a command-line program against a damaged data file: turns a
/// `SIGBUS` or `SIGSEGV` raised by reading an environment's memory map into a message naming the
/// data file, the page and the byte offset, and exit code 3 — not a death by signal.
///
/// LMDB reads its B-trees straight from the map and checks page numbers against the last page in
/// use, but not every byte of a page (a flipped node offset or size can send a read past the
/// map's end). ``DataFileSummary/inspect(path:)`` catches truncations and damaged meta pages
/// before the map is touched; this catches what is left. A fault at an address outside every
/// registered map is a bug, not damage: the handler puts the default action back and the signal
/// ends the process as usual (with its core dump).
///
/// Process-wide: install it once, from a program's entry point (never from a library). Only
/// async-signal-safe calls run in the handler (`write`, `_exit`, `sigaction`); the regions it
/// consults are fixed slots written before the map is read.
public enum MapFaultReporter {
    /// Installs the `SIGBUS` and `SIGSEGV` handlers (on an alternate stack, so that a fault from a
    /// deep recursion is reported too). Environments opened afterwards register their maps.
    public static func install() {
        guard !installed.load() else { return }
        installed.store()
        let stackSize = 64 << 10
        var stack = stack_t()
        stack.ss_sp = UnsafeMutableRawPointer.allocate(byteCount: stackSize, alignment: 16)
        stack.ss_size = stackSize
        stack.ss_flags = 0
        sigaltstack(&stack, nil)
        var action = sigaction()
        action.sa_flags = SA_SIGINFO | SA_ONSTACK
        #if canImport(Glibc)
        action.__sigaction_handler.sa_sigaction = faultHandler
        #else
        action.__sigaction_u.__sa_sigaction = faultHandler
        #endif
        sigemptyset(&action.sa_mask)
        libraryText.pointee = lmdbTextRange()
        sigaction(SIGBUS, &action, nil)
        sigaction(SIGSEGV, &action, nil)
    }

    /// The executable mappings of liblmdb (from `/proc/self/maps`, Linux): a fault whose program
    /// counter lies there is LMDB reading a damaged page, even at an address outside the map (a
    /// page LMDB found invalid and then used).
    static func lmdbTextRange() -> (UInt, UInt) {
        #if os(Linux)
        guard let maps = fopen("/proc/self/maps", "r") else { return (0, 0) }
        defer { fclose(maps) }
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        defer { free(line) }
        while getline(&line, &capacity, maps) > 0, let line {
            let text = String(cString: line).split(separator: " ", omittingEmptySubsequences: true)
            guard text.count >= 6, text[5].contains("liblmdb"), text[1].contains("x"), let dash = text[0].firstIndex(of: "-"),
                  let start = UInt(text[0][..<dash], radix: 16), let end = UInt(text[0][text[0].index(after: dash)...], radix: 16) else { continue }
            return (start, end)
        }
        #endif
        return (0, 0)
    }

    /// Records that `[base, base + size)` maps the data file at `file` (called by ``Environment``).
    static func register(base: UnsafeRawPointer?, size: Int, pageSize: Int, file: String) -> Int? {
        guard installed.load(), let base else { return nil }
        for slot in 0..<slotCount where slots[slot].base == 0 {
            let path = Array(file.utf8.prefix(pathCapacity))
            paths.advanced(by: slot * pathCapacity).update(from: path, count: path.count)
            slots[slot] = Region(base: UInt(bitPattern: base), size: UInt(size), pageSize: UInt(max(pageSize, 1)), pathLength: path.count)
            return slot
        }
        return nil
    }

    /// Updates a registered map after it moved or grew.
    static func update(slot: Int, base: UnsafeRawPointer?, size: Int) {
        guard let base else { return }
        slots[slot].size = 0
        slots[slot].base = UInt(bitPattern: base)
        slots[slot].size = UInt(size)
    }

    /// Forgets a map (its environment is closed).
    static func unregister(slot: Int) {
        slots[slot].size = 0
        slots[slot].base = 0
    }

    struct Region {
        var base: UInt
        var size: UInt
        var pageSize: UInt
        var pathLength: Int
    }

    static let slotCount = 16
    static let pathCapacity = 1024
    // Fixed memory, never freed: the handler may read it at any moment. Written only by the
    // thread opening or closing an environment, before or after its map is in use.
    nonisolated(unsafe) static let slots: UnsafeMutablePointer<Region> = {
        let p = UnsafeMutablePointer<Region>.allocate(capacity: slotCount)
        p.initialize(repeating: Region(base: 0, size: 0, pageSize: 1, pathLength: 0), count: slotCount)
        return p
    }()
    nonisolated(unsafe) static let paths: UnsafeMutablePointer<UInt8> = {
        let p = UnsafeMutablePointer<UInt8>.allocate(capacity: slotCount * pathCapacity)
        p.initialize(repeating: 0, count: slotCount * pathCapacity)
        return p
    }()
    nonisolated(unsafe) static let libraryText: UnsafeMutablePointer<(UInt, UInt)> = {
        let p = UnsafeMutablePointer<(UInt, UInt)>.allocate(capacity: 1)
        p.initialize(to: (0, 0))
        return p
    }()
    static let installed = Flag()

    /// A set-once flag.
    final class Flag: @unchecked Sendable {
        // Invariant: `value` only goes from false to true, under `lock`.
        private var value = false
        private let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        init() { pthread_mutex_init(lock, nil) }
        func load() -> Bool { pthread_mutex_lock(lock); defer { pthread_mutex_unlock(lock) }; return value }
        func store() { pthread_mutex_lock(lock); value = true; pthread_mutex_unlock(lock) }
    }
}

/// The signal handler (async-signal-safe: `write`, `_exit`, `signal`, `raise` only).
private func faultHandler(_ number: Int32, _ info: UnsafeMutablePointer<siginfo_t>?, _ context: UnsafeMutableRawPointer?) {
    #if canImport(Glibc)
    let address = UInt(bitPattern: info?.pointee._sifields._sigfault.si_addr)
    #else
    let address = UInt(bitPattern: info?.pointee.si_addr)
    #endif
    for slot in 0..<MapFaultReporter.slotCount {
        let region = MapFaultReporter.slots[slot]
        guard region.base != 0, address >= region.base, address < region.base &+ region.size else { continue }
        let offset = address - region.base
        writeText("Error: the ledger's data file ")
        _ = write(2, MapFaultReporter.paths.advanced(by: slot * MapFaultReporter.pathCapacity), region.pathLength)
        writeText(" is damaged: reading page ")
        writeNumber(offset / region.pageSize)
        writeText(" (byte offset ")
        writeNumber(offset)
        writeText(number == SIGBUS ? ") faulted (SIGBUS: the page is past the end of the file)" : ") faulted (SIGSEGV: a page points outside the file)")
        writeText(". Nothing was written. Restore it from a backup (see `ledger backup`).\n")
        _exit(3)
    }
    // Outside the maps, but inside LMDB's code: LMDB used a page of a damaged file that it found
    // invalid (e.g. a null page). Named with the ledger(s) open.
    let pc = programCounter(context)
    let text = MapFaultReporter.libraryText.pointee
    if pc != 0, pc >= text.0, pc < text.1 {
        for slot in 0..<MapFaultReporter.slotCount where MapFaultReporter.slots[slot].base != 0 {
            writeText("Error: the ledger's data file ")
            _ = write(2, MapFaultReporter.paths.advanced(by: slot * MapFaultReporter.pathCapacity), MapFaultReporter.slots[slot].pathLength)
            writeText(" is damaged: LMDB faulted reading it (")
            writeText(number == SIGBUS ? "SIGBUS" : "SIGSEGV")
            writeText(" at address ")
            writeNumber(address)
            writeText(", inside liblmdb). Nothing was written. Restore it from a backup (see `ledger backup`).\n")
            _exit(3)
        }
    }
    // Not a ledger's map: a bug. Let the signal do what it does by default.
    signal(number, SIG_DFL)
    raise(number)
}

private func writeText(_ text: StaticString) {
    _ = write(2, text.utf8Start, text.utf8CodeUnitCount)
}

private func writeNumber(_ value: UInt) {
    var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                 UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
        (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    withUnsafeMutableBytes(of: &digits) { buffer in
        var v = value
        var i = buffer.count
        repeat {
            i -= 1
            buffer[i] = UInt8(ascii: "0") + UInt8(v % 10)
            v /= 10
        } while v > 0 && i > 0
        _ = write(2, buffer.baseAddress!.advanced(by: i), buffer.count - i)
    }
}

/// The program counter of the faulting instruction, from the signal's `ucontext_t` (Linux x86-64
/// and arm64), else 0.
private func programCounter(_ context: UnsafeMutableRawPointer?) -> UInt {
    #if os(Linux) && arch(x86_64)
    guard let context else { return 0 }
    let uc = context.assumingMemoryBound(to: ucontext_t.self)
    // gregs[REG_RIP], REG_RIP = 16 (<sys/ucontext.h>, x86-64).
    return withUnsafeBytes(of: uc.pointee.uc_mcontext.gregs) { UInt(bitPattern: Int($0.load(fromByteOffset: 16 * 8, as: Int64.self))) }
    #elseif os(Linux) && arch(arm64)
    guard let context else { return 0 }
    return UInt(context.assumingMemoryBound(to: ucontext_t.self).pointee.uc_mcontext.pc)
    #else
    return 0
    #endif
}
