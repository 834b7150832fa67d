import Foundation

/// How many things of each kind a deletion removed: what audit entries and summaries carry, never content.
public struct DeletionCounts: Sendable, Equatable, Codable {
    /// Kind (`feedback`, `screenshots`, …) to count.
    public private(set) var byKind: [String: Int]

    /// Creates counts; kinds with zero are dropped.
    public init(_ byKind: [String: Int] = [:]) {
        self.byKind = byKind.filter { $0.value != 0 }
    }

    /// The count of one kind (zero when absent).
    public subscript(kind: String) -> Int {
        get { byKind[kind] ?? 0 }
        set { byKind[kind] = newValue == 0 ? nil : newValue }
    }

    /// Everything counted.
    public var total: Int { byKind.values.reduce(0, +) }

    /// Whether nothing was counted.
    public var isEmpty: Bool { byKind.isEmpty }

    /// Adds `other` kind by kind.
    public mutating func add(_ other: DeletionCounts) {
        for (kind, count) in other.byKind { self[kind] += count }
    }

    /// Compact JSON with sorted keys, as stored in `audit_entry.counts`.
    public var jsonText: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? String(decoding: encoder.encode(byKind), as: UTF8.self)) ?? "{}"
    }

    /// Parses stored counts; anything unreadable counts as nothing.
    public init(jsonText: String) {
        self.init((try? JSONDecoder().decode([String: Int].self, from: Data(jsonText.utf8))) ?? [:])
    }

    public init(from decoder: any Decoder) throws {
        self.init(try decoder.singleValueContainer().decode([String: Int].self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(byKind)
    }
}
