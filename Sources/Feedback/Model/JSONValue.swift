import Foundation

/// Any JSON value, decoded without loss of the distinction between integers and other numbers.
public enum JSONValue: Sendable, Equatable, Codable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

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
        case .double(let value): try single.encode(value)
        case .string(let value): try single.encode(value)
        case .array(let value): try single.encode(value)
        case .object(let value): try single.encode(value)
        }
    }

    /// Parses JSON bytes; nil when they are not JSON.
    ///
    /// Foundation's `JSONSerialization` is about four times faster here than decoding this enum with `JSONDecoder`
    /// (which throws and catches an error per probe of a value's kind); this is the hot path of `POST /api/feedback`.
    public static func parse(_ bytes: some Collection<UInt8>) -> JSONValue? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed]) else {
            return nil
        }
        return JSONValue(foundation: object)
    }

    private static let booleanType = ObjectIdentifier(type(of: NSNumber(value: true)))

    private init?(foundation value: Any) {
        // Most likely kinds first: on Linux every failed `as?` from `Any` tries bridging (NSNull before String made
        // each string pay a String→NSString bridge attempt; 10 % of POST /api/feedback's CPU). The kinds are
        // disjoint, so the order changes nothing else.
        switch value {
        case let string as String:
            self = .string(string)
        case let object as [String: Any]:
            var values: [String: JSONValue] = [:]
            values.reserveCapacity(object.count)
            for (key, element) in object {
                guard let converted = JSONValue(foundation: element) else { return nil }
                values[key] = converted
            }
            self = .object(values)
        case let number as NSNumber:
            if ObjectIdentifier(type(of: number)) == Self.booleanType {
                self = .bool(number.boolValue)
            } else {
                // "d"/"f": a number with a fraction or exponent; "Q": an integer beyond Int64.
                switch String(cString: number.objCType) {
                case "d", "f", "Q": self = .double(number.doubleValue)
                default: self = .int(number.int64Value)
                }
            }
        case let array as [Any]:
            var values: [JSONValue] = []
            values.reserveCapacity(array.count)
            for element in array {
                guard let converted = JSONValue(foundation: element) else { return nil }
                values.append(converted)
            }
            self = .array(values)
        case is NSNull:
            self = .null
        case let decimal as Decimal:
            self = .double(NSDecimalNumber(decimal: decimal).doubleValue)
        default:
            return nil
        }
    }

    /// Compact JSON text with sorted keys.
    public var jsonText: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? String(decoding: encoder.encode(self), as: UTF8.self)) ?? "null"
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
