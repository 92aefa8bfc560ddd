import AlipayKit
import Crypto
import Foundation
import Hummingbird
import Logging
import NotifyCore
import NotifyStore

/// `POST /alipay/notify`: verify the raw body, commit it durably, and only then answer `success`.
///
/// The order of the steps is the product (docs/architecture.md invariants 1–3): nothing is stored before the signature,
/// `sign_type` and `app_id` check out, and `success` is written only after the writer's transaction committed.
/// Any doubt answers `failure`, which makes Alipay deliver the same notification again later.
public struct NotificationEndpoint: Sendable {
    /// Bodies larger than this are refused with 413 before they are read.
    public static let maximumBodyBytes = 64 * 1024

    let verifier: NotificationVerifier
    let writer: NotificationWriter?
    let metrics: ReceiverMetrics
    /// Where refused bodies are kept for `notifyctl verify --rejected` (nil: not kept).
    let rejections: RejectionLog?
    /// Certificate mode: fetches (and checks) the Alipay certificate an otherwise refused notification names, after
    /// Alipay rotated its certificate (nil: key mode, or not fetched).
    let certificates: NotificationCertificateAdopter?
    /// Seals each verified body for the worker (``NotificationSeal``; nil: stored unsealed, the worker verifies it).
    let seal: NotificationSeal?

    /// An endpoint verifying with `verifier` and storing through `writer`.
    ///
    /// `writer` is nil only for the benchmark's bare-handler baseline (`notify-receiver --bench-writer none`):
    /// notifications are then verified and answered without being stored, which breaks invariant 1 on purpose.
    public init(
        verifier: NotificationVerifier, writer: NotificationWriter?, metrics: ReceiverMetrics, rejections: RejectionLog? = nil,
        certificates: NotificationCertificateAdopter? = nil, seal: NotificationSeal? = nil
    ) {
        self.seal = seal
        self.verifier = verifier
        self.writer = writer
        self.metrics = metrics
        self.rejections = rejections
        self.certificates = certificates
    }

    /// Handles one notification delivery; never throws, every outcome is an answer Alipay understands.
    public func handle(_ request: Request, context: ReceiverRequestContext) async -> Response {
        metrics.received.increment()
        let logger = context.logger

        guard Self.isFormContentType(request.headers[.contentType]) else {
            return refuse(.unsupportedMediaType, reason: "content_type", "content type is not application/x-www-form-urlencoded", logger)
        }
        if let length = request.headers[.contentLength].flatMap(Int.init), length > Self.maximumBodyBytes {
            return refuse(.contentTooLarge, reason: "too_large", "body of \(length) bytes exceeds \(Self.maximumBodyBytes)", logger)
        }
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: Self.maximumBodyBytes)
        } catch let error as any HTTPResponseError where error.status == .contentTooLarge {
            return refuse(.contentTooLarge, reason: "too_large", "body exceeds \(Self.maximumBodyBytes) bytes", logger)
        } catch {
            return refuse(.badRequest, reason: "bad_form", "could not read the body: \(error)", logger)
        }
        let body = Array(buffer.readableBytesView)

        let verified: VerifiedNotification
        do throws(NotificationError) {
            verified = try await verify(body, logger: logger)
        } catch {
            // The error names the failed check (never the signature or key material); the body is not logged, but
            // kept (bounded) in the store for `notifyctl verify --rejected`.
            rejections?.record(body: body, reason: error.reason, detail: "\(error)", logger: logger)
            return refuse(.badRequest, reason: error.reason, "notification refused: \(error) (notifyctl verify --list-rejected)", logger)
        }
        var incoming: IncomingNotification
        switch verified {
        case .trade(let notification):
            incoming = IncomingNotification(
                notifyId: notification.notifyId, outTradeNo: notification.outTradeNo,
                tradeStatus: notification.tradeStatus.rawValue, body: Self.storableBody(body))
        case .unsupported(let parameters, let problem):
            // Authentic but not understood by this version: stored and acknowledged like any other, so Alipay does not
            // give up on it; the worker parks it for review with the problem, and a replay after an upgrade applies it.
            metrics.unsupported.increment()
            incoming = IncomingNotification(
                notifyId: verified.notifyId ?? Self.syntheticNotifyId(body), outTradeNo: parameters["out_trade_no"] ?? "",
                tradeStatus: parameters["trade_status"] ?? "", body: Self.storableBody(body))
            logger.warning(
                "notification verified but not understood by this version; storing it for review",
                metadata: ["problem": "\(problem)", "notify_type": "\(parameters["notify_type"] ?? "-")"])
        }
        // Passed to each line rather than set on the logger: swift-log builds a line's metadata only when the line is
        // logged, while setting it copied the handler's metadata on every request (2.5 % of the receiver under load).
        func ids(_ extra: Logger.Metadata = [:]) -> Logger.Metadata {
            extra.merging(["notify_id": "\(incoming.notifyId)", "out_trade_no": "\(incoming.outTradeNo)"]) { own, _ in own }
        }
        guard let writer else {
            metrics.accepted.increment()
            return Self.answer(.ok, "success")
        }
        // Sealed only for the store: the benchmark's store-nothing baseline pays for no MAC it would not keep.
        incoming.seal = seal?.seal(incoming.body)
        let started = ContinuousClock.now
        do {
            let result = try await writer.append(incoming)
            metrics.commitSeconds.record(ContinuousClock.now - started)
            switch result {
            case .stored:
                metrics.accepted.increment()
                logger.info("notification stored", metadata: ids(["trade_status": "\(incoming.tradeStatus)"]))
            case .duplicate:
                metrics.duplicates.increment()
                logger.info("notification re-delivered; already stored", metadata: ids())
            }
            return Self.answer(.ok, "success")
        } catch {
            metrics.rejected("store_unavailable")
            logger.error("notification verified but not committed; answering failure so Alipay retries", metadata: ids(["error": "\(error)"]))
            return Self.answer(.serviceUnavailable, "failure")
        }
    }

    /// Verifies `body`; in certificate mode a body refused because it names an Alipay certificate this process does
    /// not hold yet (Alipay rotated it) is verified again once that certificate is fetched and checked.
    func verify(_ body: [UInt8], logger: Logger) async throws(NotificationError) -> VerifiedNotification {
        do throws(NotificationError) {
            return try verifier.verifyKeepingUnsupported(body: body)
        } catch {
            guard case .invalidSignature = error, let certificates, let sn = verifier.unknownCertificateSN(body: body) else { throw error }
            switch await certificates.adopt(sn: sn) {
            case .success:
                logger.notice("notification signed with Alipay's new certificate, adopted", metadata: ["alipay_cert_sn": "\(sn)"])
                return try verifier.verifyKeepingUnsupported(body: body)
            case .failure(let refusal):
                // The SN comes from the request: logged only when it has an SN's shape.
                logger.warning(
                    "notification names an Alipay certificate this receiver does not hold and could not adopt",
                    metadata: ["alipay_cert_sn": "\(CertificateSN.isWellFormed(sn) ? sn : "malformed")", "why": "\(refusal)"])
                throw error
            }
        }
    }

    private func refuse(_ status: HTTPResponse.Status, reason: String, _ message: String, _ logger: Logger) -> Response {
        metrics.rejected(reason)
        logger.warning("\(message)", metadata: ["reason": "\(reason)"])
        return Self.answer(status, "failure")
    }

    /// A plain-text answer: Alipay reads the body, so it is exactly `success` or `failure`.
    static func answer(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(
            status: status, headers: [.contentType: "text/plain; charset=utf-8", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// Whether a Content-Type header is `application/x-www-form-urlencoded` (parameters such as `charset` allowed).
    static func isFormContentType(_ value: String?) -> Bool {
        guard let value else { return false }
        let mediaType = value.split(separator: ";", maxSplits: 1).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        return mediaType.lowercased() == "application/x-www-form-urlencoded"
    }

    /// A `notify_id` for an authentic notification that carries none: derived from the body, so a re-delivery of the
    /// same body is still recognised as one.
    static func syntheticNotifyId(_ body: [UInt8]) -> String {
        "body-" + SHA256.hash(data: body).map { String(format: "%02x", $0) }.joined().prefix(40)
    }

    /// The body as text for the `notifications.body` column, decoding to the same parameters as the bytes received.
    ///
    /// Alipay percent-encodes every non-ASCII byte, so bodies are ASCII and stored verbatim. A body with raw
    /// bytes that are not UTF-8 (an old GBK account posting unencoded) gets exactly those bytes written as `%XX`:
    /// form-decoding once gives the identical bytes, so the stored body still verifies.
    static func storableBody(_ body: [UInt8]) -> String {
        if let text = String(validating: body, as: UTF8.self) { return text }
        let hex = Array("0123456789ABCDEF".utf8)
        var escaped: [UInt8] = []
        escaped.reserveCapacity(body.count * 2)
        for byte in body {
            if byte < 0x80 {
                escaped.append(byte)
            } else {
                escaped.append(contentsOf: [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]])
            }
        }
        return String(decoding: escaped, as: UTF8.self)
    }
}
