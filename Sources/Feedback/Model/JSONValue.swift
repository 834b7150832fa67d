import Foundation

/// Any JSON value, decoded without loss of the distinction between integers and other numbers.
public enum JSONValue: Sendable, Equatable, Codable {
    case null
    case bool(Bool)
    case int(Int64)
    /// An integer beyond `Int64`, kept as the digits it was sent as (with its minus sign): a 64-bit unsigned id in a
    /// client's metadata reads back as sent, not rounded to a double's 17 digits.
    case bigInteger(String)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// How many arrays and objects deep the value goes: 0 for a scalar, 1 for `{}` or `{"a":1}`, 2 for `{"a":[]}`.
    public var nestingDepth: Int {
        switch self {
        case .array(let elements): 1 + (elements.lazy.map(\.nestingDepth).max() ?? 0)
        case .object(let members): 1 + (members.values.lazy.map(\.nestingDepth).max() ?? 0)
        default: 0
        }
    }

    public init(from decoder: any Decoder) throws {
        if var array = try? decoder.unkeyedContainer() {
            var values: [JSONValue] = []
            while !array.isAtEnd { values.append(try array.decode(JSONValue.self)) }
            self = .array(values)
            return
        }
        if let object = try? decoder.container(keyedBy: AnyKey.self) {
            var values: [String: JSONValue] = [:]
            for key in object.allKeys { values[key.stringValue] = try object.decode(JSONValue.self, forKey: key) }
            self = .object(values)
            return
        }
        let single = try decoder.singleValueContainer()
        if single.decodeNil() {
            self = .null
        } else if let string = try? single.decode(String.self) {
            self = .string(string)
        } else if let bool = try? single.decode(Bool.self) {
            self = .bool(bool)
        } else if let int = try? single.decode(Int64.self) {
            self = .int(int)
        } else {
            self = .double(try single.decode(Double.self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var single = encoder.singleValueContainer()
        switch self {
        case .null: try single.encodeNil()
        case .bool(let value): try single.encode(value)
        case .int(let value): try single.encode(value)
        // A JSON number with these digits when Decimal holds them all (38), else the nearest double; the digits as
        // a string past a double's range (requests with such digits are refused, a store may hold some from before).
        case .bigInteger(let digits):
            if let decimal = Decimal(string: digits), decimal.description == digits {
                try single.encode(decimal)
            } else if let double = Double(digits), double.isFinite {
                try single.encode(double)
            } else {
                try single.encode(digits)
            }
        case .double(let value): try single.encode(value)
        case .string(let value): try single.encode(value)
        case .array(let value): try single.encode(value)
        case .object(let value): try single.encode(value)
        }
    }

    /// Parses JSON bytes (UTF-8); nil when they are not one JSON document. See `JSONValueParser`.
    public static func parse(_ bytes: some Collection<UInt8>) -> JSONValue? {
        JSONValueParser.parse(bytes)
    }

    /// Parses a request's JSON body as `parse` does, refusing (nil) an integer past a double's range as `1e400` is:
    /// such digits have no JSON number to read back as where they do not fit a Decimal (38), and a 309-digit trait
    /// made its person's record a 500 (found by a review). Stored documents are read with `parse`, which keeps
    /// such digits from before this check (they encode as a string of their digits).
    public static func parseRequestBody(_ bytes: some Collection<UInt8>) -> JSONValue? {
        JSONValueParser.parseRequestBody(bytes)
    }

    /// Parses JSON bytes as `parse` does, and says whether an object in them named a key twice (`parse` keeps the
    /// last, as JSONSerialization does; a request whose meaning a repeat would change refuses it instead).
    public static func parseNoticingDuplicateKeys(_ bytes: some Collection<UInt8>) -> (value: JSONValue, duplicateKeys: Bool)? {
        JSONValueParser.parseNoticingDuplicateKeys(bytes)
    }

    /// Compact JSON text with sorted keys (what the stores keep). Written by hand: JSONEncoder cost more than the
    /// rest of a durable submission's JSON work together.
    public var jsonText: String {
        var text = ""
        appendJSON(to: &text)
        return text
    }

    /// Appends this value's compact JSON text, object keys sorted, to `text`.
    public func appendJSON(to text: inout String) {
        switch self {
        case .null: text += "null"
        case .bool(let value): text += value ? "true" : "false"
        case .int(let value): text += String(value)
        case .bigInteger(let digits): text += digits
        // A parsed document holds finite numbers only; Swift's description is the shortest that reads back the same.
        case .double(let value): text += value.isFinite ? value.description : "null"
        case .string(let value): Self.appendQuoted(value, to: &text)
        case .array(let values):
            text += "["
            for (index, value) in values.enumerated() {
                if index > 0 { text += "," }
                value.appendJSON(to: &text)
            }
            text += "]"
        case .object(let members):
            text += "{"
            for (index, key) in members.keys.sorted().enumerated() {
                if index > 0 { text += "," }
                Self.appendQuoted(key, to: &text)
                text += ":"
                members[key]!.appendJSON(to: &text)
            }
            text += "}"
        }
    }

    /// Appends `string` as a JSON string literal: quotes, backslashes and control characters escaped.
    public static func appendQuoted(_ string: String, to text: inout String) {
        text += "\""
        if !string.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            text += string
        } else {
            for scalar in string.unicodeScalars {
                switch scalar {
                case "\"": text += "\\\""
                case "\\": text += "\\\\"
                case "\n": text += "\\n"
                case "\r": text += "\\r"
                case "\t": text += "\\t"
                case "\u{8}": text += "\\b"
                case "\u{C}": text += "\\f"
                case _ where scalar.value < 0x20:
                    let hex = String(scalar.value, radix: 16)
                    text += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                default: text.unicodeScalars.append(scalar)
                }
            }
        }
        text += "\""
    }

    /// The integer this value holds, accepting a float with no fraction.
    public var integerValue: Int64? {
        switch self {
        case .int(let value): value
        case .double(let value) where value.rounded() == value && abs(value) < 9e15: Int64(value)
        default: nil
        }
    }

    /// The number this value holds.
    public var numberValue: Double? {
        switch self {
        case .int(let value): Double(value)
        case .bigInteger(let digits): Double(digits)
        case .double(let value): value
        default: nil
        }
    }
}

struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}
