import Foundation

/// The optional JSON file that keeps the sandbox's state across restarts, replaced atomically on each change.
struct StateFile: Sendable {
    let path: String

    /// The saved state, or nil when the file does not exist yet.
    func load() throws(SandboxError) -> SandboxState? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw .stateFile(path: path, problem: "cannot read it (\(error.localizedDescription))")
        }
        let state: SandboxState
        do {
            state = try SandboxJSON.decoder().decode(SandboxState.self, from: data)
        } catch {
            throw .stateFile(path: path, problem: "not a sandbox state file, or a damaged one; move it away to start afresh")
        }
        guard state.version == SandboxState.formatVersion else {
            throw .stateFile(path: path, problem: "format version \(state.version), this sandbox reads \(SandboxState.formatVersion)")
        }
        return state
    }

    /// Writes the state to a temporary file beside the target and renames it over, so a crash leaves the old or the new file.
    func save(_ state: SandboxState) throws(SandboxError) {
        do {
            let data = try SandboxJSON.encoder().encode(state)
            try data.write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw .stateFile(path: path, problem: "cannot write it (\(error.localizedDescription))")
        }
    }
}
