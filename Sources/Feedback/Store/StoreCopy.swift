/// Moving a whole store from one backend to another (`usero database copy`: a deployment outgrowing its SQLite file
/// moves to PostgreSQL). The rows travel table by table in these neutral shapes, so that neither adapter knows the
/// other: the source exports its tables, the destination maps them onto its own schema.

/// One stored value, in the types both backends hold.
public enum CopiedValue: Sendable, Equatable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])
}

/// Some rows of one table, in the source's column names and order.
public struct CopiedRows: Sendable {
    public var table: String
    public var columns: [String]
    public var rows: [[CopiedValue]]

    public init(table: String, columns: [String], rows: [[CopiedValue]]) {
        self.table = table
        self.columns = columns
        self.rows = rows
    }
}

/// A store that can hand over everything it holds.
public protocol StoreExporter: Sendable {
    /// Calls `receive` with every table's rows, in batches of at most `batchRows`, parents before the tables that
    /// refer to them, all read from one snapshot. Screenshot bytes come as rows of a table `screenshot_chunk`
    /// (`file_name`, `seq` from 0, `bytes` of at most `chunkBytes`), each file's after the batch of `screenshot` rows
    /// that names it. Bookkeeping that means nothing elsewhere (files queued for deletion) is left out.
    func exportRows(batchRows: Int, chunkBytes: Int, _ receive: (CopiedRows) async throws -> Void) async throws
    /// Throws `StoreCopyRefused` when the store changed since the export began (a service still writing to it):
    /// asked before the copy commits.
    func confirmUnchanged() async throws
}

/// Why a copy was refused before anything was written: one line for the person running it.
public struct StoreCopyRefused: Error, CustomStringConvertible, Sendable {
    public let description: String

    public init(_ description: String) { self.description = description }
}
