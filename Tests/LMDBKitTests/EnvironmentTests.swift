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
