import ArgumentParser

struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "keys", abstract: "Generate the app key pair.")
}
