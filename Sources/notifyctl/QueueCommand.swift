import ArgumentParser

// Placeholder: the receiver work fills in `queue stats|list`, the worker work `queue replay`.
struct Queue: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "queue", abstract: "Inspect and replay the job queue.")
}
