import DeliveryLedger

/// Amazon SES event notifications received by email (an SNS e-mail subscription): the message body
/// is the notification's JSON document, or (an "email-json" subscription) the SNS envelope whose
/// `Message` string holds it (internal to LedgerIngest).
///
/// Format: Amazon SES Developer Guide, "Contents of notifications for Amazon SES" —
/// `notificationType` `Bounce` (`bounce.bounceType` Permanent / Transient / Undetermined,
/// `bounce.bouncedRecipients[]` with `emailAddress`, `action`, `status`, `diagnosticCode`,
/// `bounce.timestamp`), `Complaint` (`complaint.complainedRecipients[].emailAddress`,
/// `complaint.timestamp`, `complaint.complaintFeedbackType`) or `Delivery`
/// (`delivery.recipients[]`, `delivery.timestamp`, `delivery.smtpResponse`); `mail.headers[]`
/// holds the original message's headers as `{"name", "value"}` pairs.
enum DSNAmazonSES {
    /// One recipient's outcome in a notification.
    struct Item {
        var kind: String  // "bounce", "complaint", "delivery"
        var recipient: String
        var status: String?
        var diagnostic: String
        var action: String?
        var transient: Bool
        var timestamp: String?
    }

    /// A decoded notification.
    struct Notification {
        var items: [Item]
        var headers: [(name: String, value: String)]
        var mailTimestamp: String?
    }

    /// The notification in `text`, or `nil` when the text holds none.
    static func notification(in text: String) -> Notification? {
        guard let start = text.firstRange(of: "{\"notificationType\"")?.lowerBound else { return envelope(in: text) }
        guard case .object(let top)? = document(from: text[start...]), case .string(let type)? = top["notificationType"] else { return nil }
        return notification(top, type: type)
    }

    /// The JSON document that starts `text` and ends at its last `}`; long lines folded by the mail
    /// system as "!" + line break + space (SNS e-mail) are unfolded when the text does not read as is.
    private static func document(from text: Substring) -> JSONValue? {
        var body = String(text)
        if let end = body.lastIndex(of: "}") { body = String(body[...end]) }
        if let value = try? JSONValue.decode(Array(body.utf8)[...]) { return value }
        var unfolded = body
        for fold in ["!\r\n ", "!\n "] { unfolded = unfolded.replacingAll(fold, with: "") }
        return try? JSONValue.decode(Array(unfolded.utf8)[...])
    }

    /// The notification inside an SNS message envelope (an SNS "email-json" subscription, Amazon SNS
    /// Developer Guide "HTTP/HTTPS notification JSON format": `{"Type": "Notification", "Message":
    /// "<the SES notification as a JSON string>", …}`), or `nil`.
    private static func envelope(in text: String) -> Notification? {
        guard let type = text.firstRange(of: "\"Type\""), let open = text[..<type.lowerBound].lastIndex(of: "{"),
              case .object(let top)? = document(from: text[open...]),
              case .string("Notification")? = top["Type"], case .string(let message)? = top["Message"],
              let start = message.firstRange(of: "{\"notificationType\"")?.lowerBound,
              case .object(let inner)? = document(from: message[start...]), case .string(let kind)? = inner["notificationType"] else { return nil }
        return notification(inner, type: kind)
    }

    private static func notification(_ top: [String: JSONValue], type: String) -> Notification? {
        var n = Notification(items: [], headers: [], mailTimestamp: nil)
        if case .object(let mail)? = top["mail"] {
            if case .string(let t)? = mail["timestamp"] { n.mailTimestamp = t }
            if case .array(let hs)? = mail["headers"] {
                for h in hs {
                    if case .object(let o) = h, case .string(let name)? = o["name"], case .string(let v)? = o["value"] { n.headers.append((name, v)) }
                }
            }
        }
        func string(_ o: [String: JSONValue], _ k: String) -> String? {
            if case .string(let s)? = o[k] { return s }
            return nil
        }
        switch type.lowercased() {
        case "bounce":
            guard case .object(let b)? = top["bounce"] else { return n }
            let transient = (string(b, "bounceType") ?? "").lowercased() == "transient"
            if case .array(let rs)? = b["bouncedRecipients"] {
                for r in rs {
                    guard case .object(let o) = r, let a = string(o, "emailAddress") else { continue }
                    n.items.append(Item(kind: "bounce", recipient: a, status: string(o, "status"), diagnostic: string(o, "diagnosticCode") ?? "",
                                        action: string(o, "action"), transient: transient, timestamp: string(b, "timestamp")))
                }
            }
        case "complaint":
            guard case .object(let c)? = top["complaint"] else { return n }
            if case .array(let rs)? = c["complainedRecipients"] {
                for r in rs {
                    guard case .object(let o) = r, let a = string(o, "emailAddress") else { continue }
                    n.items.append(Item(kind: "complaint", recipient: a, status: nil, diagnostic: string(c, "complaintFeedbackType") ?? "",
                                        action: nil, transient: false, timestamp: string(c, "timestamp")))
                }
            }
        case "delivery":
            guard case .object(let d)? = top["delivery"] else { return n }
            if case .array(let rs)? = d["recipients"] {
                for r in rs {
                    guard case .string(let a) = r else { continue }
                    n.items.append(Item(kind: "delivery", recipient: a, status: nil, diagnostic: string(d, "smtpResponse") ?? "",
                                        action: nil, transient: false, timestamp: string(d, "timestamp")))
                }
            }
        default:
            break
        }
        return n
    }
}

extension String {
    /// `self` with every occurrence of `target` replaced (no Foundation).
    func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var out = ""
        var rest = Substring(self)
        while let r = rest.firstRange(of: target) {
            out += rest[..<r.lowerBound]
            out += replacement
            rest = rest[r.upperBound...]
        }
        return out + rest
    }
}
