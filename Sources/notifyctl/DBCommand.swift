import ArgumentParser

struct DB: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "db", abstract: "Migrate and prune the database.")
}
