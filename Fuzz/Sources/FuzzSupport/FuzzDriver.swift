import CLibFuzzer
import Foundation

/// Starts libFuzzer from a target's `@main` (see CLibFuzzer.h for why libFuzzer's own `main` is not used).
public enum FuzzDriver {
    /// Runs libFuzzer on the process's arguments with `target` as LLVMFuzzerTestOneInput, then exits with its code.
    public static func run(_ target: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> Never {
        exit(alipay_fuzz_run(CommandLine.argc, CommandLine.unsafeArgv, target))
    }

    /// The input as an array (libFuzzer may pass a null pointer with size 0).
    public static func bytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
        guard let data, size > 0 else { return [] }
        return Array(UnsafeBufferPointer(start: data, count: size))
    }
}
