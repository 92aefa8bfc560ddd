import AlipayKit
import Foundation

/// The checks the order and refund requests share, each saying what is wrong in words that name the field.
enum InputRules {
    /// `text` as a yuan amount ("88.88", parsed exactly) within Alipay's range 0.01 … 100000000.00.
    static func amount(_ text: String, field: String) -> Result<Amount, InputProblem> {
        let amount: Amount
        do {
            amount = try Amount(text)
        } catch {
            return .failure(InputProblem("\(field): \(error)"))
        }
        guard AlipayLimits.amountRange.contains(amount) else {
            return .failure(InputProblem("\(field): \"\(text)\" is outside Alipay's range 0.01 to 100000000.00"))
        }
        return .success(amount)
    }

    /// Why `text` may not be sent to Alipay as free text: a control character; nil when it may.
    static func controlCharacterProblem(_ text: String, field: String) -> InputProblem? {
        text.unicodeScalars.contains { $0.properties.generalCategory == .control }
            ? InputProblem("\(field): must not contain control characters") : nil
    }
}

/// What is wrong with one field of a request.
struct InputProblem: Error {
    let message: String
    init(_ message: String) { self.message = message }
}
