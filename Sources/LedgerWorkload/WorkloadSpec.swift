/// The parameters of a generated workload: how many deliveries and recipients, the seed, the
/// start instant and the feed imperfections (duplicates, out-of-order arrival).
///
/// Equal specs give byte-identical output (see ``Workload``).
public struct WorkloadSpec: Sendable, Hashable {
    /// How many deliveries (campaign sends). Delivery `n` (from 1) is `campaign-2026-11-<n>` and
    /// starts `n - 1` days after ``start``. At least 0.
    public var deliveries: Int = 1
    /// Recipients targeted by each delivery, the declared to-deliver count. Every delivery targets
    /// the same recipient list (the same addresses), as a newsletter does. At least 0, below 2³².
    public var recipientsPerDelivery: Int = 10_000
    /// The seed of every random choice.
    public var seed: UInt64 = 42
    /// Start of the first delivery, in milliseconds since the Unix epoch (UTC, valid time).
    /// Default 2026-11-02T09:00:00Z. Delivery declarations use it to the millisecond; event
    /// timestamps are whole seconds (SparkPost's precision), counted from this instant rounded up
    /// to the second, so that no event precedes its declaration.
    public var start: Int64 = WorkloadSpec.defaultStart
    /// The validity period each delivery declares, in seconds (default 432,000 = 5 days). The
    /// simulated MTA gives up after min(this, 3.5 days) (domain.md §4).
    public var validitySeconds: Int64 = 432_000
    /// Fraction of distinct events that arrive twice (the same webhook element repeated, in the
    /// same batch or up to two batches later), 0…1.
    public var duplicateRate: Double = 0.05
    /// Fraction of distinct events that arrive late: moved to a batch one to three batches after
    /// the one their timestamp belongs to, 0…1.
    public var outOfOrderRate: Double = 0.10
    /// Events per webhook batch before the imperfections are applied (real batches hold 1 to 350+
    /// events, reference/mta.md §1.1). At least 1.
    public var eventsPerBatch: Int = 500

    /// 2026-11-02T09:00:00Z in milliseconds since the Unix epoch.
    public static let defaultStart: Int64 = 1_793_610_000_000

    /// Creates a spec; every parameter has the documented default.
    ///
    /// - Parameters:
    ///   - deliveries: number of deliveries, ≥ 0.
    ///   - recipientsPerDelivery: recipients per delivery, ≥ 0.
    ///   - seed: seed of every random choice.
    ///   - start: start of the first delivery, epoch milliseconds (UTC).
    ///   - validitySeconds: declared validity period, seconds, > 0.
    ///   - duplicateRate: fraction of events delivered twice, 0…1.
    ///   - outOfOrderRate: fraction of events moved to a later batch, 0…1.
    ///   - eventsPerBatch: nominal events per webhook batch, ≥ 1.
    public init(
        deliveries: Int = 1, recipientsPerDelivery: Int = 10_000, seed: UInt64 = 42,
        start: Int64 = WorkloadSpec.defaultStart, validitySeconds: Int64 = 432_000,
        duplicateRate: Double = 0.05, outOfOrderRate: Double = 0.10, eventsPerBatch: Int = 500
    ) {
        self.deliveries = deliveries
        self.recipientsPerDelivery = recipientsPerDelivery
        self.seed = seed
        self.start = start
        self.validitySeconds = validitySeconds
        self.duplicateRate = duplicateRate
        self.outOfOrderRate = outOfOrderRate
        self.eventsPerBatch = eventsPerBatch
    }

    /// The id of delivery `index` (from 0): `campaign-2026-11-<index + 1>`.
    ///
    /// - Parameter index: delivery index, `0..<deliveries`.
    /// - Returns: the delivery id used as SparkPost `campaign_id` and canonical `delivery`.
    public static func deliveryId(index: Int) -> String {
        "campaign-2026-11-\(index + 1)"
    }
}
