import LedgerIngest

/// The webhook endpoints: what each reads and how its sender authenticates.
///
/// Every endpoint runs the same flow (``WebhookIngest``): authentication, body limit, decoding with
/// the reader `ledger ingest` uses for its ``inputFormat``, one atomic append committed with the
/// batches of concurrent requests, and a 200 answer only once that commit is durable.
enum WebhookEndpoint: String, Sendable, CaseIterable {
    /// SparkPost / Momentum webhook batches (`POST /webhooks/sparkpost`), HTTP Basic.
    case sparkpost
    /// Canonical JSON Lines (`POST /events`), HTTP Basic.
    case jsonl
    /// Amazon SES notifications in their SNS envelope (`POST /webhooks/ses`), SNS signatures.
    case ses
    /// SendGrid Event Webhook batches (`POST /webhooks/sendgrid`), Signed Event Webhook (ECDSA).
    case sendgrid
    /// Mailgun webhooks, JSON or legacy form-encoded (`POST /webhooks/mailgun`), HMAC signature in the body.
    case mailgun
    /// Postmark webhooks (`POST /webhooks/postmark`), HTTP Basic in the webhook URL.
    case postmark
    /// Brevo transactional webhooks (`POST /webhooks/brevo`), HTTP Basic in the webhook URL.
    case brevo
    /// Mailjet Event API (`POST /webhooks/mailjet`), HTTP Basic in the webhook URL.
    case mailjet
    /// Postal webhooks (`POST /webhooks/postal`), RSA signature headers.
    case postal

    /// The route.
    var path: String { self == .jsonl ? "/events" : "/webhooks/\(rawValue)" }

    /// The reader of the body: the ``InputFormat`` of the same name (every endpoint is named after
    /// the format it reads).
    var inputFormat: InputFormat { InputFormat(rawValue: rawValue)! }

    /// The body's name in error messages.
    var name: String {
        switch self {
        case .sparkpost: "webhook batch"
        case .jsonl: "request body"
        default: "\(rawValue) webhook"
        }
    }

    /// Whether the sender authenticates with the service's HTTP Basic credentials.
    var usesBasicAuthentication: Bool { [.sparkpost, .jsonl, .postmark, .brevo, .mailjet].contains(self) }
}
