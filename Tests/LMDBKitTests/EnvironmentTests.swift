import Foundation
import LMDBKit
import LedgerTestSupport
import Testing

@Suite struct EnvironmentTests {
    @Test func putGetScanAndDelete() throws {
        let dir = TemporaryDirectory()
        let env = try Environment(path: dir.url.path)
        let db = try env.openDatabase(named: "t")
        try env.write { txn in
            for i: UInt8 in [3, 1, 2] { try txn.put(db, key: [i], value: [i, i]) }
        }
        try env.read { txn in
            #expect(try txn.get(db, key: [2]) == [2, 2])
            #expect(try txn.get(db, key: [9]) == nil)
            var keys: [UInt8] = []
            try txn.scan(db) { k, _ in keys.append(k[0]); return true }
            #expect(keys == [1, 2, 3])
            keys = []
            try txn.scan(db, from: [2], reverse: true) { k, _ in keys.append(k[0]); return true }
            #expect(keys == [2, 1])
            #expect(try txn.last(db)?.key == [3])
            #expect(try txn.count(db) == 3)
        }
        try env.write { txn throws in #expect(try txn.delete(db, key: [1])); #expect(try !txn.delete(db, key: [1])) }
        try env.read { txn throws in #expect(try txn.count(db) == 2) }
    }

    /// LMDB stores no empty key and its lookups refuse one (MDB_BAD_VALSIZE); a lookup of an empty
    /// key (an empty `--delivery ''` from the command line) finds nothing instead of failing.
    @Test func emptyKeyIsNotFound() throws {
        let dir = TemporaryDirectory()
        let env = try Environment(path: dir.url.path)
        let db = try env.openDatabase(named: "t")
        try env.write { txn in
            for i: UInt8 in [1, 2] { try txn.put(db, key: [i], value: [i]) }
            #expect(try !txn.delete(db, key: []))
        }
        try env.read { txn in
            #expect(try txn.get(db, key: []) == nil)
            #expect(try [UInt8]().withUnsafeBytes { kb in try txn.withValue(db, key: kb) { Array($0) } } == nil)
            var keys: [UInt8] = []
            try txn.scan(db, from: []) { k, _ in keys.append(k[0]); return true }
            #expect(keys == [1, 2])
            keys = []
            try txn.scan(db, from: [], reverse: true) { k, _ in keys.append(k[0]); return true }
            #expect(keys.isEmpty)
        }
    }

    @Test func appendModeRejectsOutOfOrderKeys() throws {
        let dir = TemporaryDirectory()
        let env = try Environment(path: dir.url.path)
        let db = try env.openDatabase(named: "log")
        try env.write { txn in try txn.put(db, key: [0, 5], value: [1], mode: .append) }
        #expect(throws: LMDBError.self) {
            try env.write { txn in try txn.put(db, key: [0, 4], value: [1], mode: .append) }
        }
        #expect(throws: LMDBError.self) {
            try env.write { txn in try txn.put(db, key: [0, 5], value: [2], mode: .insertOnly) }
        }
    }

    @Test func failedWriteLeavesNothing() throws {
        struct Boom: Error {}
        let dir = TemporaryDirectory()
        let env = try Environment(path: dir.url.path)
        let db = try env.openDatabase(named: "t")
        #expect(throws: Boom.self) {
            try env.write { txn in
                try txn.put(db, key: [1], value: [1])
                throw Boom()
            }
        }
        try env.read { txn throws in #expect(try txn.count(db) == 0) }
    }

    @Test func mapGrowsWhenFull() throws {
        let dir = TemporaryDirectory()
        var options = EnvironmentOptions()
        options.initialMapSize = 1 << 20
        options.durable = false
        let env = try Environment(path: dir.url.path, options: options)
        let db = try env.openDatabase(named: "t")
        let value = [UInt8](repeating: 7, count: 4000)
        for batch in 0..<8 {
            try env.write { txn in
                for i in 0..<250 {
                    var key = [UInt8]()
                    withUnsafeBytes(of: UInt32(batch * 250 + i).bigEndian) { key.append(contentsOf: $0) }
                    try txn.put(db, key: key, value: value, mode: .append)
                }
            }
        }
        #expect(env.mapSize > 1 << 20)
        try env.read { txn throws in #expect(try txn.count(db) == 2000) }
    }
}

/// The checks ``DataFileSummary`` makes before a map is read, and the map's headroom at open.
@Suite struct DataFileTests {
    @Test func metaPagesAreReadAndTheMapHasHeadroom() throws {
        let dir = TemporaryDirectory()
        var options = EnvironmentOptions()
        options.initialMapSize = 1 << 20
        options.durable = false
        do {
            let env = try Environment(path: dir.url.path, options: options)
            let db = try env.openDatabase(named: "t")
            try env.write { txn in
                for i in 0..<3000 { try txn.put(db, key: Array("\(100_000 + i)".utf8), value: [UInt8](repeating: 7, count: 1000)) }
            }
        }
        let summary = try DataFileSummary.inspect(path: dir.path("data.mdb"))
        #expect(summary.pageSize == 4096 && summary.transactionID >= 2)
        #expect(summary.usedBytes <= summary.fileSize && summary.usedBytes > 3000 * 1000)
        // Reopened with a 1 MiB map asked for: the map is twice the file, not exactly the file.
        let env = try Environment(path: dir.url.path, options: options)
        #expect(env.mapSize >= 2 * summary.fileSize)
        // A file cut short of its last page is named, before any map is read.
        let handle = try #require(FileHandle(forWritingAtPath: dir.path("data.mdb")))
        try handle.truncate(atOffset: UInt64(summary.usedBytes - 1))
        try handle.close()
        #expect { try DataFileSummary.inspect(path: dir.path("data.mdb")) } throws: { error in
            (error as? DataFileError)?.kind == .damaged && "\(error)".contains("truncated")
        }
    }

    /// Commit N writes meta page N mod 2 and leaves N − 1 in the other: ids that are not consecutive
    /// mean a damaged one, which LMDB would resolve by opening an older commit without a word (found
    /// by a tester: one bit of the newest id flipped, 18 → 2 — the same page parity).
    @Test func metaPagesWhoseTransactionsAreNotConsecutiveAreDamage() throws {
        let dir = TemporaryDirectory()
        var options = EnvironmentOptions()
        options.durable = false
        do {
            let env = try Environment(path: dir.url.path, options: options)
            let db = try env.openDatabase(named: "t")
            for i in 0..<17 { try env.write { txn in try txn.put(db, key: Array("k\(i)".utf8), value: [1]) } }
        }
        let summary = try DataFileSummary.inspect(path: dir.path("data.mdb"))
        let newest = summary.transactionID
        #expect(newest >= 18)
        // Flip bit 4 of the newest id where it lies: meta page newest mod 2, byte 144.
        let handle = try #require(FileHandle(forUpdatingAtPath: dir.path("data.mdb")))
        let offset = UInt64(Int(newest & 1) * summary.pageSize + 144)
        try handle.seek(toOffset: offset)
        var id = try #require(try handle.read(upToCount: 8)).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        id ^= 0x10
        try handle.seek(toOffset: offset)
        try handle.write(contentsOf: withUnsafeBytes(of: id) { Data($0) })
        try handle.close()
        #expect { try DataFileSummary.inspect(path: dir.path("data.mdb")) } throws: { error in
            (error as? DataFileError)?.kind == .damaged && "\(error)".contains("not consecutive")
        }
    }
}
