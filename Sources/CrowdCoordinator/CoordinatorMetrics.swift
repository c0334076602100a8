import CrowdProtocol
import Foundation
import Prometheus
import Synchronization

/// The coordinator's Prometheus metrics, in a registry owned by one app (no global `MetricsSystem`).
///
/// Totals (rounds, updates accepted/rejected, bytes, samples) are *counters derived from the campaign totals*
/// (`StatusBoard`, loaded from the database at start-up and kept current in memory): every scrape advances each
/// counter by the difference from the last exported value, without reading a table. After a restart the first
/// scrape therefore jumps straight to the database total, so the exported counters always equal its figures. Latency histograms are process-local (they
/// restart empty); peers online is a gauge over the last 120 s.
public final class CoordinatorMetrics: Sendable {
    /// The registry `GET /metrics` renders.
    public let registry = PrometheusCollectorRegistry()

    let roundsCompleted: Counter
    let updatesAccepted: Counter
    let bytesIn: Counter
    let bytesOut: Counter
    let samplesTrained: Counter
    let peersOnline: Gauge
    let peersTotal: Gauge
    let percentFunded: Gauge
    /// Time to decode and merge a round's updates and write the checkpoint.
    let aggregationSeconds: DurationHistogram
    /// Time to evaluate a new checkpoint on the held-out set.
    let evaluationSeconds: DurationHistogram

    /// Reasons an upload can be rejected for, exported at 0 before the first occurrence so that
    /// `rate()` and `sum()` work from the start. Other codes appear when first recorded.
    static let uploadRejectionReasons: [String] = [
        APIErrorCode.noSuchLease, .duplicate, .leaseExpired, .staleUpdate, .wrongRound, .wrongBaseModel,
        .schemaMismatch, .elementCountMismatch, .nonFiniteValues, .corruptUpdate, .bodyTooLarge,
    ].map(\.rawValue)

    /// Descriptor of the per-reason rejection counters (created on first sight of a reason).
    static var rejectedName: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "crowdtrain", metricName: "updates_rejected", unitName: "total",
            helpText: "Rejected model updates by reason (API error code); no credit")
    }

    /// Last exported value of each database-derived counter, keyed by metric name and reason.
    private let exported = Mutex<[String: Int64]>([:])

    static let latencyBuckets: [Duration] = [
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30),
    ]

    public init() {
        let r = registry
        func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(namespace: "crowdtrain", metricName: metric, unitName: unit, helpText: help)
        }
        roundsCompleted = r.makeCounter(descriptor: name("rounds_completed", "total", "Rounds closed and evaluated"))
        updatesAccepted = r.makeCounter(
            descriptor: name("updates_accepted", "total", "Accepted model updates (one ledger entry each)"))
        bytesIn = r.makeCounter(descriptor: name("bytes_in", "total", "Update bytes received"))
        bytesOut = r.makeCounter(descriptor: name("bytes_out", "total", "Model and shard bytes sent"))
        samplesTrained = r.makeCounter(
            descriptor: name("samples_trained", "total", "Samples trained in accepted updates"))
        peersOnline = r.makeGauge(descriptor: name("peers_online", "", "Peers seen in the last 120 seconds"))
        peersTotal = r.makeGauge(descriptor: name("peers", "total", "Peers that ever joined"))
        percentFunded = r.makeGauge(descriptor: name("funded", "percent", "Samples trained / goal, in percent"))
        aggregationSeconds = r.makeDurationHistogram(
            descriptor: name("aggregation", "seconds", "Round aggregation latency (decode, merge, write checkpoint)"),
            buckets: Self.latencyBuckets)
        evaluationSeconds = r.makeDurationHistogram(
            descriptor: name("evaluation", "seconds", "Held-out evaluation latency of a new checkpoint"),
            buckets: Self.latencyBuckets)
        for limit in Self.limits { _ = r.makeCounter(descriptor: Self.limitedName, labels: [("limit", limit)]) }
    }

    /// Brings every database-derived metric up to `status` and `rejections` (count per reason code).
    public func sync(status: CampaignStatus, rejections: [String: Int]) {
        exported.withLock { last in
            func advance(_ counter: Counter, _ key: String, to value: Int) {
                let delta = Int64(value) - (last[key] ?? 0)
                if delta > 0 {
                    counter.increment(by: delta)
                    last[key] = Int64(value)
                }
            }
            advance(roundsCompleted, "rounds", to: Int(status.roundsCompleted))
            advance(updatesAccepted, "accepted", to: status.updatesAccepted)
            advance(bytesIn, "bytes_in", to: status.bytesIn)
            advance(bytesOut, "bytes_out", to: status.bytesOut)
            advance(samplesTrained, "samples", to: status.samplesTrained)
            let all = rejections.merging(Self.uploadRejectionReasons.map { ($0, 0) }) { a, _ in a }
            for (reason, count) in all.sorted(by: { $0.key < $1.key }) {
                let counter = registry.makeCounter(descriptor: Self.rejectedName, labels: [("reason", reason)])
                advance(counter, "rejected." + reason, to: count)
            }
        }
        peersOnline.set(Double(status.peersOnline))
        peersTotal.set(Double(status.peersTotal))
        percentFunded.set(status.percentFunded)
    }

    /// Descriptor of the transport-limit counters (one per limit: `ip`, `credential`, `join`, `connections_per_ip`,
    /// `slow_body`).
    static var limitedName: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "crowdtrain", metricName: "requests_limited", unitName: "total",
            helpText: "Requests answered 429 or connections closed by a transport limit, by limit")
    }

    /// Transport limits, pre-created so that they export 0 from the start.
    static let limits = ["ip", "credential", "join", "connections_per_ip", "slow_body"]

    /// Counts one refusal by the transport limit `limit`.
    public func limited(_ limit: String) {
        registry.makeCounter(descriptor: Self.limitedName, labels: [("limit", limit)]).increment()
    }

    /// The Prometheus text exposition (version 0.0.4) of every metric.
    public func render() -> String { registry.emitToString() }
}
