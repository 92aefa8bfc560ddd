import ArgumentParser

// Placeholder: the worker work fills in `queue replay`.
struct QueueReplay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "replay", abstract: "Put dead or done jobs back to pending.")
}
