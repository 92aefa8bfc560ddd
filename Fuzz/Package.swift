// swift-tools-version:6.1
// libFuzzer targets for AlipayKit, one executable each. Built and run by scripts/fuzz (see README.md), which passes
// -sanitize=fuzzer,address and -parse-as-library and uses its own scratch path, never the root package's .build.
import PackageDescription

let alipayKit: Target.Dependency = .product(name: "AlipayKit", package: "alipay-notify")

let package = Package(
    name: "alipay-notify-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "alipay-notify", path: ".."),
        // MD5 for FuzzCertificates' reference SN (the same requirement as the root package's).
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.0"..<"5.0.0"),
    ],
    targets: [
        // Declares libFuzzer's LLVMFuzzerRunDriver, which each target's @main calls.
        .target(name: "CLibFuzzer"),
        // The fixture keys and vectors every target checks against, the property check that crashes on failure, the driver.
        .target(name: "FuzzSupport", dependencies: [alipayKit, "CLibFuzzer"]),
        // Form-body parsing, notification decoding and verification.
        .executableTarget(name: "FuzzNotification", dependencies: [alipayKit, "FuzzSupport"]),
        // Response extraction and verification.
        .executableTarget(name: "FuzzResponse", dependencies: [alipayKit, "FuzzSupport"]),
        // Amount parsing.
        .executableTarget(name: "FuzzAmount", dependencies: [alipayKit, "FuzzSupport"]),
        // Key loading: PEM (PKCS#1, PKCS#8, SubjectPublicKeyInfo) and bare base64, from text and from a file.
        .executableTarget(name: "FuzzKeys", dependencies: [alipayKit, "FuzzSupport"]),
        // Certificate files (app, Alipay, root bundle), SNs and the chain check.
        .executableTarget(
            name: "FuzzCertificates", dependencies: [alipayKit, "FuzzSupport", .product(name: "Crypto", package: "swift-crypto")]),
        // Responses with AES content encryption, and the content encryption key itself.
        .executableTarget(name: "FuzzEncryptedResponse", dependencies: [alipayKit, "FuzzSupport"]),
        // The daily statement's detail file (GBK CSV) and its zip.
        .executableTarget(name: "FuzzStatement", dependencies: [alipayKit, "FuzzSupport"]),
    ]
)
