import Foundation
import Testing

/// `deploy/`'s alert rules and dashboard name only metrics the daemons export: a renamed metric would otherwise leave
/// an alert that can never fire, silently.
@Suite("deploy files")
struct DeployFilesTests {
    static func text(_ path: String) throws -> String {
        try String(contentsOf: Executables.packageRoot.appendingPathComponent(path), encoding: .utf8)
    }

    /// Every Swift source's text, concatenated.
    static func sources() throws -> String {
        let root = Executables.packageRoot.appendingPathComponent("Sources")
        let files = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil)?.compactMap { $0 as? URL } ?? []
        return try files.filter { $0.pathExtension == "swift" }.map { try String(contentsOf: $0, encoding: .utf8) }.joined(separator: "\n")
    }

    /// The `alipay_notify_…` names a file uses, histogram suffixes taken off.
    static func metricNames(_ text: String) -> Set<String> {
        Set(text.matches(of: /alipay_notify_[a-z_]+/).map { match in
            var name = String(match.output)
            for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) { name.removeLast(suffix.count) }
            return name
        })
    }

    @Test("every metric in deploy/prometheus/alerts.yml and the Grafana dashboard is registered by the code", arguments: [
        "deploy/prometheus/alerts.yml", "deploy/grafana/alipay-notify.json",
    ])
    func metricsExist(path: String) throws {
        let sources = try Self.sources()
        let names = Self.metricNames(try Self.text(path))
        #expect(names.count >= 5, "\(path) names \(names.count) metrics")
        for name in names.sorted() {
            #expect(sources.contains("\"\(name)\""), "\(path) uses \(name), which no daemon registers")
        }
    }

    @Test("every alert rule has an expression, a duration, a severity, a summary and a description")
    func alertRulesAreComplete() throws {
        let rules = try Self.text("deploy/prometheus/alerts.yml").components(separatedBy: "      - alert: ").dropFirst()
        #expect(rules.count >= 9)
        for rule in rules {
            let name = rule.prefix { $0 != "\n" }
            for field in ["expr: ", "for: ", "labels: {severity: ", "summary: ", "description: "] {
                #expect(rule.contains(field), "alert \(name) has no \(field)")
            }
            #expect(rule.contains("severity: page}") || rule.contains("severity: warn}"), "alert \(name): severity page or warn")
        }
        // The statement and certificate alerts the product documents.
        let all = rules.joined()
        for alert in ["AlipayNotifyStatementDifferences", "AlipayNotifyCertificateExpiring", "AlipayNotifyCertificateRotationPending"] {
            #expect(all.contains(alert + "\n"), "\(alert) missing")
        }
        #expect(all.contains("alipay_notify_certificate_expiry_seconds) < 30 * 86400"), "the certificate alert fires 30 days ahead")
    }
}
