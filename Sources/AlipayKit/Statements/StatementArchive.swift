import Foundation
import ZIPFoundation

/// The zip Alipay's statement download answers: a detail file (`…_业务明细.csv`) and a summary
/// (`…_业务明细(汇总).csv`), GBK text each. Read with ZIPFoundation.
///
/// Alipay writes the entry names in GBK without the zip's UTF-8 flag, so a reader may see them garbled; the detail
/// file is told apart by shape instead: the `.csv` entry whose name has no `(` (the summary's `(汇总)`).
public enum StatementArchive {
    /// The largest detail file read (a day of a very large merchant is a few hundred MiB; this refuses a zip bomb).
    public static let maximumDetailBytes = 1 << 30

    /// The detail file's bytes.
    public static func detailFile(_ zip: Data) throws(StatementError) -> [UInt8] {
        let archive: Archive
        do {
            archive = try Archive(data: zip, accessMode: .read)
        } catch {
            throw StatementError("the download is not a zip archive (\(error))")
        }
        let files = archive.filter { $0.type == .file && $0.path.lowercased().hasSuffix(".csv") }
        let details = files.filter { !$0.path.contains("(") && !$0.path.contains("（") }
        guard details.count == 1, let detail = details.first else {
            throw StatementError("expected one detail .csv in the zip, found \(files.map(\.path))")
        }
        guard detail.uncompressedSize <= UInt64(maximumDetailBytes) else {
            throw StatementError("the detail file is \(detail.uncompressedSize) bytes, more than \(maximumDetailBytes)")
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Int(detail.uncompressedSize))
        do {
            _ = try archive.extract(detail) { chunk in
                guard bytes.count + chunk.count <= maximumDetailBytes else { throw StatementError("the detail file is too large") }
                bytes.append(contentsOf: chunk)
            }
        } catch let error as StatementError {
            throw error
        } catch {
            throw StatementError("cannot read \(detail.path) from the zip (\(error))")
        }
        return bytes
    }

    /// The detail file of the zip, parsed.
    public static func statement(_ zip: Data) throws(StatementError) -> TradeStatement {
        try TradeStatement.parse(try detailFile(zip))
    }

    /// A zip of named files, deflated (the sandbox's statements; tests).
    public static func make(_ files: [(name: String, bytes: [UInt8])]) throws -> Data {
        let archive = try Archive(accessMode: .create)
        for file in files {
            let data = Data(file.bytes)
            try archive.addEntry(
                with: file.name, type: .file, uncompressedSize: Int64(data.count), compressionMethod: .deflate,
                provider: { position, size in data.subdata(in: Int(position)..<Int(position) + size) })
        }
        guard let data = archive.data else { throw StatementError("the zip was not made in memory") }
        return data
    }
}
