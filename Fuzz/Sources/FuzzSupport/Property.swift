/// The check every fuzz target makes of its properties: a violation is a crash, so libFuzzer keeps the input.
public enum Property {
    /// Crashes (trap, reported by libFuzzer as a deadly signal and saved as crash-*) when `condition` is false.
    @inline(__always)
    public static func require(
        _ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line
    ) {
        if !condition() { fatalError("fuzz property violated: \(message())", file: file, line: line) }
    }

    /// Crashes unconditionally: a state the code under test promises never to reach.
    public static func violated(_ message: String, file: StaticString = #fileID, line: UInt = #line) -> Never {
        fatalError("fuzz property violated: \(message)", file: file, line: line)
    }
}
