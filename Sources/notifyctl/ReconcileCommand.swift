import ArgumentParser

// Placeholder: the worker work fills in `reconcile N`.
struct Reconcile: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "reconcile", abstract: "Query Alipay for an order now and apply the answer.")
}
