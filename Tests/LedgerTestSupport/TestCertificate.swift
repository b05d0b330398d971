import Foundation

/// Minimal X.509 certificates (RFC 5280 §4.1) for tests of signature verifiers that take the key of
/// a certificate (Amazon SNS's `SigningCertURL`). The certificate's own signature is a placeholder:
/// the verifiers trust a certificate by where it was fetched, not by its issuer.
public enum TestCertificate {
    /// A DER element (ITU-T X.690): tag, definite length, content.
    public static func der(_ tag: UInt8, _ content: [UInt8]) -> [UInt8] {
        let n = content.count
        let length: [UInt8] = n < 0x80 ? [UInt8(n)] : n < 0x100 ? [0x81, UInt8(n)] : [0x82, UInt8(n >> 8), UInt8(n & 0xFF)]
        return [tag] + length + content
    }

    /// A certificate holding `subjectPublicKeyInfo` (the DER of the public key, e.g.
    /// `_RSA.Signing.PublicKey.derRepresentation`), as PEM.
    public static func pem(subjectPublicKeyInfo: [UInt8]) -> String {
        let sha256WithRSA = der(0x30, [0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0B, 0x05, 0x00])
        let name = der(0x30, der(0x31, der(0x30, [0x06, 0x03, 0x55, 0x04, 0x03] + der(0x0C, Array("sns.test".utf8)))))
        let validity = der(0x30, der(0x17, Array("260101000000Z".utf8)) + der(0x17, Array("360101000000Z".utf8)))
        let tbs = der(0x30, der(0xA0, der(0x02, [0x02])) + der(0x02, [0x01]) + sha256WithRSA + name + validity + name + subjectPublicKeyInfo)
        let cert = der(0x30, tbs + sha256WithRSA + der(0x03, [0x00, 0x01, 0x02, 0x03]))
        let b64 = Data(cert).base64EncodedString(options: [.lineLength64Characters, .endLineWithLineFeed])
        return "-----BEGIN CERTIFICATE-----\n\(b64)\n-----END CERTIFICATE-----\n"
    }
}
