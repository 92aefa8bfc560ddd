import ArgumentParser

// Placeholder: the receiver work fills in `orders create|show|list`.
struct Orders: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "orders", abstract: "Create, show and list orders.")
}
