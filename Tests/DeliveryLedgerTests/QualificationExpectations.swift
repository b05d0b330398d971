import DeliveryLedger
import Testing

extension TextQualifier {
    /// Expects `text` to qualify as the sender's refusal: soft Refused, concerning the sender
    /// (domain.md §5.3: a failure of the sender is never counted against the address).
    func expectRefusedBySender(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let r = qualify(text: text)
        #expect(r.qualification == Qualification(.soft, .refused), "\(text): \(r.rule)", sourceLocation: sourceLocation)
        #expect(r.concerns == .sender, "\(text): \(r.rule)", sourceLocation: sourceLocation)
    }
}
