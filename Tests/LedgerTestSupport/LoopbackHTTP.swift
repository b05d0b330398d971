#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// A small blocking HTTP/1.1 client for loopback tests and tools: one request per connection
/// (`Connection: close`), the answer read to the end (Content-Length or chunked). It talks to the
/// real server over a real socket, so tests see what a webhook sender sees, and it can also send a
/// request and hang up half-way (``sendPartial(port:head:bodyPrefix:)``).
public enum LoopbackHTTP {
    /// An answer: status, header fields (names lower-cased), body.
    public struct Reply: Sendable {
        public var status: Int
        public var headers: [String: String]
        public var body: [UInt8]
        public var text: String { String(decoding: body, as: UTF8.self) }
        /// The body parsed as a JSON object (`nil` when it is not one).
        public var json: [String: Any]? { (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] }
    }

    /// A socket error, with the call and errno text.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }

    /// Connects to 127.0.0.1:`port` (receive timeout `timeoutSeconds`).
    public static func connect(port: Int, timeoutSeconds: Int = 300) throws -> Int32 {
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw Failure(description: "socket: \(String(cString: strerror(errno)))") }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            let text = String(cString: strerror(errno))
            close(fd)
            throw Failure(description: "connect to 127.0.0.1:\(port): \(text)")
        }
        return fd
    }

    static func sendAll(_ fd: Int32, _ bytes: [UInt8]) throws {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + done, bytes.count - done, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw Failure(description: "send: \(String(cString: strerror(errno)))")
            }
            done += n
        }
    }

    /// The request head: request line, Host, Connection: close, the given fields, Content-Length.
    public static func head(method: String, path: String, headers: [(String, String)], contentLength: Int?) -> [UInt8] {
        var text = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        if let contentLength { text += "Content-Length: \(contentLength)\r\n" }
        return Array((text + "\r\n").utf8)
    }

    /// Sends one request and reads the whole answer.
    public static func request(port: Int, method: String = "GET", path: String, headers: [(String, String)] = [],
                               body: [UInt8]? = nil, timeoutSeconds: Int = 300) throws -> Reply {
        let fd = try connect(port: port, timeoutSeconds: timeoutSeconds)
        defer { close(fd) }
        try sendAll(fd, head(method: method, path: path, headers: headers, contentLength: body?.count ?? (method == "GET" ? nil : 0)) + (body ?? []))
        return try readReply(fd)
    }

    /// Sends `bytes` as they are (a request the helpers above would not write, such as a broken
    /// chunked body) and reads the whole answer.
    public static func exchange(port: Int, raw bytes: [UInt8], timeoutSeconds: Int = 300) throws -> Reply {
        let fd = try connect(port: port, timeoutSeconds: timeoutSeconds)
        defer { close(fd) }
        try sendAll(fd, bytes)
        return try readReply(fd)
    }

    /// Sends a request head announcing `declaredLength` body bytes, then only `bodyPrefix`, then
    /// closes the connection (a sender that died or lost the network half-way).
    public static func sendPartial(port: Int, head: [UInt8], bodyPrefix: [UInt8]) throws {
        let fd = try connect(port: port)
        defer { close(fd) }
        try sendAll(fd, head + bodyPrefix)
        usleep(100_000)
    }

    /// Sends `bytes` as they are on an open connection (``connect(port:timeoutSeconds:)``): a request
    /// written by hand, e.g. an HTTP/1.0 one.
    public static func sendRaw(_ fd: Int32, _ bytes: [UInt8]) throws {
        try sendAll(fd, bytes)
    }

    /// Reads what arrives on `fd` until the server closes the connection (`closed` is true) or nothing
    /// arrives for `timeoutSeconds` (`closed` is false: the connection is still open).
    public static func readUntilClosed(_ fd: Int32, timeoutSeconds: Int) throws -> (bytes: [UInt8], closed: Bool) {
        try read(fd, timeoutSeconds: timeoutSeconds) { _ in false }
    }

    /// Reads one answer whose length is known (`Content-Length`) on a connection that may stay open:
    /// returns once the answer is complete (`closed` false) or the server closed the connection
    /// (`closed` true), or when nothing arrives for `timeoutSeconds`.
    public static func readAnswer(_ fd: Int32, timeoutSeconds: Int) throws -> (bytes: [UInt8], closed: Bool) {
        try read(fd, timeoutSeconds: timeoutSeconds) { data in
            guard let end = data.firstRange(of: Array("\r\n\r\n".utf8)) else { return false }
            let head = String(decoding: data[..<end.lowerBound], as: UTF8.self).lowercased()
            let length = head.components(separatedBy: "\r\n").first { $0.hasPrefix("content-length:") }
                .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
            return data.count - end.upperBound >= length
        }
    }

    private static func read(_ fd: Int32, timeoutSeconds: Int, until complete: ([UInt8]) -> Bool) throws -> (bytes: [UInt8], closed: Bool) {
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while !complete(data) {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { return (data, false) }
                if errno == ECONNRESET { return (data, true) }
                throw Failure(description: "recv: \(String(cString: strerror(errno)))")
            }
            if n == 0 { return (data, true) }
            data += buffer[0..<n]
        }
        return (data, false)
    }

    /// `Authorization: Basic …` for `user:password` (RFC 7617).
    public static func basic(_ user: String, _ password: String) -> (String, String) {
        ("Authorization", "Basic " + Data("\(user):\(password)".utf8).base64EncodedString())
    }

    static func readReply(_ fd: Int32) throws -> Reply {
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == ECONNRESET && !data.isEmpty { break }
                throw Failure(description: "recv: \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            data += buffer[0..<n]
        }
        guard let end = data.firstRange(of: Array("\r\n\r\n".utf8)) else {
            throw Failure(description: "no HTTP answer head in \(data.count) bytes")
        }
        let headText = String(decoding: data[..<end.lowerBound], as: UTF8.self)
        var lines = headText.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else { throw Failure(description: "bad status line in \(headText)") }
        var headers: [String: String] = [:]
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var body = Array(data[end.upperBound...])
        if headers["transfer-encoding"]?.lowercased() == "chunked" {
            var decoded: [UInt8] = []
            var i = 0
            while let lineEnd = body[i...].firstRange(of: Array("\r\n".utf8)) {
                let sizeText = String(decoding: body[i..<lineEnd.lowerBound], as: UTF8.self).split(separator: ";").first ?? ""
                guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16) else { break }
                if size == 0 { break }
                let start = lineEnd.upperBound
                guard start + size <= body.count else { break }
                decoded += body[start..<start + size]
                i = start + size + 2
                if i >= body.count { break }
            }
            body = decoded
        } else if let length = headers["content-length"].flatMap(Int.init), length < body.count {
            body = Array(body[..<length])
        }
        return Reply(status: status, headers: headers, body: body)
    }
}
