/// Where a notification goes: Alipay posts to `notify_url` without its query string and sends that query's
/// parameters in the body, ahead of its own (unsigned, so a merchant verifying every field then fails).
struct NotifyTarget: Sendable, Equatable {
    /// The URL posted to.
    let url: String
    /// The notify_url's own query string, if it had one.
    let query: String?

    init(_ notifyURL: String) {
        let withoutFragment = notifyURL.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? notifyURL
        if let mark = withoutFragment.firstIndex(of: "?") {
            url = String(withoutFragment[..<mark])
            let rest = String(withoutFragment[withoutFragment.index(after: mark)...])
            query = rest.isEmpty ? nil : rest
        } else {
            url = withoutFragment
            query = nil
        }
    }
}
