import DeliveryLedger
import Foundation
import LedgerServer
import LedgerTestSupport
import Logging
import Testing

/// ``LedgerServer/run(onRunning:)`` throws ``ListenError`` — the address and the cause — whenever the
/// listener cannot be bound, as its documentation says: an address already in use, and a host name that
/// does not resolve (which SwiftNIO reports as its own `SocketAddressError.UnknownHost`).
@Suite struct ListenErrorTests {
    func server(host: String, port: Int) throws -> (LedgerServer, TemporaryDirectory) {
        let directory = TemporaryDirectory("ledger-listen")
        var options = LedgerOptions()
        options.durable = false
        let ledger = try Ledger(path: directory.path("ledger.lmdb"), options: options)
        var configuration = ServerConfiguration()
        configuration.host = host
        configuration.port = port
        configuration.credentials = try Credentials(text: "sparkpost:secret\n", source: "test")
        var logger = Logger(label: "test.listen")
        logger.logLevel = .critical
        return (LedgerServer(ledger: ledger, configuration: configuration, logger: logger), directory)
    }

    @Test func anAddressInUseIsAListenError() async throws {
        let running = try await RunningServer()
        let (second, directory) = try server(host: "127.0.0.1", port: running.port)
        await #expect(throws: ListenError(address: "127.0.0.1:\(running.port)",
                                          cause: "the address is already in use (another service listens there; choose another --listen)")) {
            try await second.run()
        }
        _ = directory
        await running.stop()
    }

    @Test func aHostNameThatDoesNotResolveIsAListenError() async throws {
        let (server, directory) = try server(host: "no-such-host.invalid", port: 8025)   // RFC 2606: .invalid never resolves
        do {
            try await server.run()
            Issue.record("run() returned")
        } catch let error as ListenError {
            #expect(error.address == "no-such-host.invalid:8025")
            #expect(error.cause.hasPrefix("the host name does not resolve ("))
            #expect(error.description.hasPrefix("cannot listen on no-such-host.invalid:8025: the host name does not resolve"))
        } catch {
            Issue.record("expected a ListenError, got \(type(of: error)): \(error)")
        }
        _ = directory
    }
}
