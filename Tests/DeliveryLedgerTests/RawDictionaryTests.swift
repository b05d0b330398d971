@testable import DeliveryLedger
import Crypto
import Foundation
import LedgerTestSupport
import LMDBKit
import Testing

/// The raw-bytes dictionaries (``RawEncoding``): trained once a source has enough documents, kept
/// in `meta`, covered by the hash chain through the digest their first record carries; a damaged or
/// replaced dictionary is named by `verify` at the record that introduced it, never read as other bytes.
@Suite struct RawDictionaryTests {
    let f = EventFactory()
    static let samples = 20

    /// A relay per recipient, with a webhook-like raw document (alike in shape, different in values).
    func relays(_ range: Range<Int>) -> [Event] {
        range.map { i in
            var e = f.relay("r\(i)@example.com", at: Int64(i))
            e.source = .sparkpost
            e.raw = Array(#"{"msys":{"message_event":{"type":"injection","campaign_id":"d1","event_id":"\#(1000 + i * 7919)","rcpt_to":"r\#(i)@example.com","friendly_from":"news@example.com","timestamp":"\#(1_764_000_000 + i * 60)"}}}"#.utf8)
            return e
        }
    }

    /// The same relays as Postfix log lines (another source: its own dictionary).
    func postfixRelays(_ range: Range<Int>) -> [Event] {
        relays(range).map { e -> Event in
            var e = e
            e.source = .postfix
            e.raw = Array("Nov  2 09:00:00 mx postfix/smtp[\(e.id.count)]: 4F3A2\(e.id.utf8.count): to=<\(e.recipient)>, relay=mx.example.net[192.0.2.7]:25, delay=1.2, dsn=2.0.0, status=sent (250 2.0.0 OK \(e.id))".utf8)
            return e
        }
    }

    /// Reading `recipient`'s events (their raw bytes) must fail with an error naming `what`.
    func expectRawBytesRefused(_ ledger: Ledger, recipient: String, naming what: String) {
        do {
            _ = try ledger.status(delivery: "d1", recipient: recipient)
            Issue.record("read raw bytes through a lost dictionary (\(what))")
        } catch {
            #expect("\(error)".contains(what), "\(error)")
        }
    }

    func open(_ dir: TemporaryDirectory, readOnly: Bool = false) throws -> Ledger {
        var options = LedgerOptions()
        options.durable = false
        options.rawDictionaryTrainingSamples = Self.samples
        options.readOnly = readOnly
        return try Ledger(path: dir.path("l.lmdb"), options: options)
    }

    /// Batches of 10: the dictionary is trained in the second append (samples 11–20 complete the 20),
    /// introduced by its first record (position 11), used by the 30 records after it.
    func makeLedger(_ dir: TemporaryDirectory) throws -> [Event] {
        let ledger = try open(dir)
        let events = relays(0..<50)
        for start in stride(from: 0, to: 50, by: 10) { try ledger.append(Array(events[start..<start + 10])) }
        #expect(try ledger.verify().isHealthy)
        return events
    }

    func references(_ ledger: Ledger) throws -> [RawReference] {
        var refs: [RawReference] = []
        try ledger.run {
            try ledger.environment.read { txn in
                try txn.scan(ledger.tables.log) { _, v in refs.append(try RecordCodec.decode(v, raw: .skip).rawReference); return true }
            }
        }
        return refs
    }

    @Test func theDictionaryIsTrainedIntroducedOnceAndTheBytesComeBack() throws {
        let dir = TemporaryDirectory()
        let events = try makeLedger(dir)
        let ledger = try open(dir)
        let refs = try references(ledger)
        #expect(refs.count == 50)
        #expect(refs[0..<10].allSatisfy { $0.code == RawEncoding.stored })
        #expect(refs[10].code == RawEncoding.zstdNewDictionary && refs[10].dictionary == 1 && refs[10].digest?.count == 32)
        #expect(refs[11...].allSatisfy { $0.code == RawEncoding.zstdDictionary && $0.dictionary == 1 })
        var raws: [[UInt8]] = []
        try ledger.forEachEvent { raws.append($0.event.raw); return true }
        #expect(raws == events.map(\.raw))
        // A read-only instance reads them too (the dictionary from meta).
        let reader = try open(dir, readOnly: true)
        #expect(try reader.status(delivery: "d1", recipient: "r42@example.com")?.events.first?.event.raw == events[42].raw)
    }

    /// Another dictionary put in place of the ledger's, with its `meta` digest made to match (a
    /// deliberate edit): the raw bytes would decode to other bytes (or not at all); `verify` names
    /// the record that introduced it, by the digest the hash chain covers.
    @Test func aReplacedDictionaryIsNamedAtTheRecordThatIntroducedIt() throws {
        let dir = TemporaryDirectory()
        _ = try makeLedger(dir)
        let env = try Environment(path: dir.path("l.lmdb"))
        let meta = try env.openDatabase(named: "meta", flags: [])
        let key = RawDictionaries.key(1)
        try env.write { txn in
            var value = try txn.get(meta, key: key)!
            value[33 + (value.count - 33) / 2] ^= 0x20
            let digest = Array(SHA256.hash(data: [value[0]] + Array(value[33...])))
            value.replaceSubrange(1..<33, with: digest)
            try txn.put(meta, key: key, value: value)
        }
        let problems = try open(dir).verify().problems
        #expect(problems.first?.position == 11, "\(problems)")
        #expect(problems.first?.what.contains("dictionary 1") == true, "\(problems)")
    }

    /// A damaged dictionary (one flipped byte, its source code included) is named by every reader of
    /// raw bytes and by `verify`, never used to give other bytes; KPIs still answer.
    @Test(arguments: [0, 40, 2000])
    func aDamagedDictionaryIsNamedNotUsed(byte: Int) throws {
        let dir = TemporaryDirectory()
        _ = try makeLedger(dir)
        let env = try Environment(path: dir.path("l.lmdb"))
        let meta = try env.openDatabase(named: "meta", flags: [])
        try env.write { txn in
            var value = try txn.get(meta, key: RawDictionaries.key(1))!
            value[min(byte, value.count - 1)] ^= 0x01
            try txn.put(meta, key: RawDictionaries.key(1), value: value)
        }
        let ledger = try open(dir)
        #expect(try ledger.kpis(delivery: "d1", semantics: .efs) != nil)
        expectRawBytesRefused(ledger, recipient: "r42@example.com", naming: "dictionary 1 is damaged")
        let problems = try ledger.verify().problems
        #expect(problems.contains { $0.what.contains("dictionary 1 is damaged") }, "\(problems)")
    }

    /// A dictionary missing from meta: readers of the raw bytes name the record and the dictionary;
    /// the projection (which needs none of these bytes) still answers.
    @Test func aMissingDictionaryIsNamedNotMisread() throws {
        let dir = TemporaryDirectory()
        _ = try makeLedger(dir)
        let env = try Environment(path: dir.path("l.lmdb"))
        let meta = try env.openDatabase(named: "meta", flags: [])
        try env.write { txn in _ = try txn.delete(meta, key: RawDictionaries.key(1)) }
        let ledger = try open(dir)
        #expect(try ledger.kpis(delivery: "d1", semantics: .efs)?.sent == 0)  // EFS: relays only, nothing sent yet
        #expect(throws: LedgerError.self) { try ledger.status(delivery: "d1", recipient: "r42@example.com") }
        let problems = try ledger.verify().problems
        #expect(problems.contains { $0.position == 11 && $0.what.contains("dictionary 1") }, "\(problems)")
    }

    /// One dictionary missing from meta, or damaged, leaves the others readable: the records of the
    /// other source give back their bytes, those of the lost dictionary name it, and `verify` names
    /// that dictionary and no other.
    @Test(arguments: ["missing", "damaged"])
    func oneLostDictionaryLeavesTheOthersReadable(damage: String) throws {
        let dir = TemporaryDirectory()
        let sparkPost = relays(0..<30)
        let postfix = postfixRelays(100..<130)
        do {
            let ledger = try open(dir)
            for start in stride(from: 0, to: 30, by: 10) { try ledger.append(Array(sparkPost[start..<start + 10])) }
            for start in stride(from: 0, to: 30, by: 10) { try ledger.append(Array(postfix[start..<start + 10])) }
            let refs = try references(ledger)
            #expect(refs[25].dictionary == 1 && refs[55].dictionary == 2, "\(refs.map(\.dictionary))")
        }
        let env = try Environment(path: dir.path("l.lmdb"))
        let meta = try env.openDatabase(named: "meta", flags: [])
        try env.write { txn in
            if damage == "missing" {
                _ = try txn.delete(meta, key: RawDictionaries.key(1))
            } else {
                var value = try #require(try txn.get(meta, key: RawDictionaries.key(1)))
                value[100] ^= 0x01
                try txn.put(meta, key: RawDictionaries.key(1), value: value)
            }
        }
        let ledger = try open(dir)
        let report = try #require(try ledger.status(delivery: "d1", recipient: "r125@example.com"))
        #expect(report.events.map(\.event.raw) == [postfix[25].raw])
        expectRawBytesRefused(ledger, recipient: "r25@example.com", naming: "dictionary 1 is \(damage)")
        let problems = try ledger.verify().problems
        #expect(problems.contains { $0.what.contains("dictionary 1 in meta does not load: raw-bytes dictionary 1 is \(damage)") }, "\(problems)")
        #expect(!problems.contains { $0.what.contains("dictionary 2") }, "\(problems)")
    }

    /// When every event of the batch that completed the samples is a duplicate, no record introduces
    /// the dictionary trained for it: it is not kept, and a later append trains one.
    @Test func aDictionaryNoRecordIntroducesIsNotKept() throws {
        let dir = TemporaryDirectory()
        let ledger = try open(dir)
        let events = relays(0..<40)
        try ledger.append(Array(events[0..<10]))
        try ledger.append(Array(events[0..<10]))  // duplicates: samples 11–20, nothing appended
        try ledger.append(Array(events[10..<40]))
        let refs = try references(ledger)
        #expect(refs.count == 40)
        #expect(refs.filter { $0.code == RawEncoding.zstdNewDictionary }.map(\.dictionary) == [1], "\(refs.map { "\($0.code)/\($0.dictionary)" })")
        #expect(try ledger.verify().isHealthy)
    }

    /// An append that trains a dictionary and then fails (a conflict) keeps nothing of it: the
    /// dictionary is not in the ledger, and this process does not compress with it afterwards.
    @Test func aFailedAppendLeavesNoDictionaryBehind() throws {
        let dir = TemporaryDirectory()
        let ledger = try open(dir)
        let events = relays(0..<40)
        try ledger.append(Array(events[0..<10]))
        var conflicting = events[0]
        conflicting.raw = Array("other bytes".utf8)
        conflicting.occurredAt = EventFactory.at(500)  // same id, other content
        #expect(throws: LedgerError.self) { try ledger.append(Array(events[10..<20]) + [conflicting]) }
        try ledger.append(Array(events[10..<40]))
        let refs = try references(ledger)
        #expect(refs.count == 40)
        #expect(refs.filter { $0.code == RawEncoding.zstdNewDictionary }.count == 1)
        #expect(refs.allSatisfy { $0.dictionary == 0 || $0.dictionary == 1 })
        var raws: [[UInt8]] = []
        try open(dir).forEachEvent { raws.append($0.event.raw); return true }
        #expect(raws == events.map(\.raw))
        #expect(try ledger.verify().isHealthy)
    }

    /// Two sources reach their threshold in one append, one of them with duplicates only: only the
    /// dictionary a record uses is written, under id 1 (ids stay dense: a gap reads as a missing
    /// dictionary).
    @Test func onlyADictionaryARecordUsesIsWrittenAndIdsStayDense() throws {
        let dir = TemporaryDirectory()
        let ledger = try open(dir)
        let sparkPost = relays(0..<10)
        let postfix = postfixRelays(100..<130)
        try ledger.append(sparkPost)
        try ledger.append(Array(postfix[0..<10]))
        // SparkPost: 10 more samples, all duplicates; Postfix: 10 more samples, new events.
        try ledger.append(sparkPost + Array(postfix[10..<30]))
        let refs = try references(ledger)
        #expect(refs.count == 40)
        #expect(refs.filter { $0.code == RawEncoding.zstdNewDictionary }.map(\.dictionary) == [1])
        #expect(refs.filter { $0.dictionary != 0 }.allSatisfy { $0.dictionary == 1 })
        var raws: [[UInt8]] = []
        try open(dir).forEachEvent { raws.append($0.event.raw); return true }
        #expect(raws == sparkPost.map(\.raw) + postfix.map(\.raw))
        #expect(try ledger.verify().isHealthy)
    }

    /// Batches made ready off the writer (`Ledger.prepare`, as the service's decoding threads do)
    /// give the records plain appends give: prepared before the dictionary existed, the batch that
    /// trains it is compressed again in its append (its first record introduces the dictionary, the
    /// others use it); prepared once it is known, the precompressed frames are taken as they are.
    @Test(arguments: [false, true])
    func preparedBatchesGiveTheRecordsOfPlainAppends(grouped: Bool) throws {
        let plainDir = TemporaryDirectory(), preparedDir = TemporaryDirectory()
        let events = try makeLedger(plainDir)
        let ledger = try open(preparedDir)
        let batches = stride(from: 0, to: 50, by: 10).map { Array(events[$0..<$0 + 10]) }
        // The first two prepared before anything is appended (no dictionary yet), the others after.
        let early = batches[0..<2].map { ledger.prepare($0) }
        if grouped {
            #expect(ledger.append(group: early).allSatisfy { (try? $0.get()) != nil })
            #expect(ledger.append(group: batches[2...].map { ledger.prepare($0) }).allSatisfy { (try? $0.get()) != nil })
        } else {
            for batch in early { try ledger.append(batch) }
            for batch in batches[2...] { try ledger.append(ledger.prepare(batch)) }
        }
        let plain = try references(try open(plainDir)), prepared = try references(ledger)
        if grouped {
            // The first group is one append of 20 documents, the training threshold: the dictionary is
            // trained in it and its first record introduces it; all 49 after it use it.
            #expect(prepared.map(\.code) == [RawEncoding.zstdNewDictionary] + Array(repeating: RawEncoding.zstdDictionary, count: 49))
            #expect(prepared.allSatisfy { $0.dictionary == 1 })
        } else {
            // Worked out as in theDictionaryIsTrainedIntroducedOnceAndTheBytesComeBack: 10 stored, the
            // 11th introduces dictionary 1, the 39 after it use it.
            #expect(prepared.map(\.code) == Array(repeating: RawEncoding.stored, count: 10) + [RawEncoding.zstdNewDictionary]
                    + Array(repeating: RawEncoding.zstdDictionary, count: 39))
            #expect(prepared == plain)
        }
        var raws: [[UInt8]] = []
        try open(preparedDir).forEachEvent { raws.append($0.event.raw); return true }
        #expect(raws == events.map(\.raw))
        #expect(try ledger.verify().isHealthy)
    }

    /// A prepared batch with an invalid event is refused by its append, naming the event, and
    /// appends nothing; in a group, the other batches are appended.
    @Test func aPreparedInvalidBatchIsRefusedAlone() throws {
        let dir = TemporaryDirectory()
        let ledger = try open(dir)
        var bad = relays(0..<3)
        bad[1].recipient = ""
        let prepared = ledger.prepare(bad)
        #expect {
            try ledger.append(prepared)
        } throws: { error in
            guard case LedgerError.invalidEvent(index: 1, eventId: bad[1].id, _) = error else { return false }
            return true
        }
        let results = ledger.append(group: [ledger.prepare(relays(10..<12)), prepared, ledger.prepare(relays(20..<21))])
        #expect(try results[0].get().positions == [1, 2])
        #expect(throws: LedgerError.self) { try results[1].get() }
        #expect(try results[2].get().positions == [3])
        #expect(try ledger.basis().position == 3)
    }

    /// A batch prepared by one ledger and appended to another: the first's frames name its
    /// dictionary 1, and the second's dictionary 1 is another (trained on other documents); the
    /// append compresses the raw bytes again with its own, and they come back as they were.
    @Test func aBatchPreparedByAnotherLedgerIsCompressedAgain() throws {
        let dirA = TemporaryDirectory(), dirB = TemporaryDirectory()
        _ = try makeLedger(dirA)
        let a = try open(dirA)
        let b = try open(dirB)
        let own = relays(500..<550).map { e -> Event in
            var e = e
            e.raw = Array(#"{"msys":{"message_event":{"type":"injection","campaign_id":"other","subaccount_id":"\#(e.id)","rcpt_to":"\#(e.recipient)","ip_pool":"shared","timestamp":"\#(1_800_000_000)"}}}"#.utf8)
            return e
        }
        for start in stride(from: 0, to: 50, by: 10) { try b.append(Array(own[start..<start + 10])) }
        let batch = relays(900..<910)
        try a.forEachEvent { _ in false }  // a reads its dictionaries (an instance knows those it has read)
        let prepared = a.prepare(batch)
        try b.append(prepared)
        var raws: [String: [UInt8]] = [:]
        try open(dirB).forEachEvent { raws[$0.event.id] = $0.event.raw; return true }
        #expect(batch.allSatisfy { raws[$0.id] == $0.raw })
        #expect(try b.verify().isHealthy)
    }
}
