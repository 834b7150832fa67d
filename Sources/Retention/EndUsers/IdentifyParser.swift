public import Feedback
import Foundation

/// How an identify call changes one stored field: absent keeps it, `null` clears it, a value replaces it.
public enum FieldUpdate<Value: Sendable & Equatable>: Sendable, Equatable {
    case keep
    case clear
    case set(Value)
}

/// A validated `POST /api/identify` body.
public struct Identification: Sendable, Equatable {
    public var clientId: String
    public var userId: String
    public var email: FieldUpdate<String>
    public var name: FieldUpdate<String>
    public var traits: FieldUpdate<[String: JSONValue]>
}

/// Turns an identify body into an `Identification`, naming each failing field.
public struct IdentifyParser: Sendable {
    /// Most keys `traits` may have.
    public static let maxTraits = 20
    /// Largest serialized `traits`, in bytes (2 KB).
    public static let maxTraitsBytes = 2 * 1024
    /// Longest trait name.
    public static let maxTraitNameLength = 64
    /// Longest `userId`, `clientId`.
    public static let maxIDLength = 128
    /// Longest `name`.
    public static let maxNameLength = 256

    static let knownFields: Set<String> = ["clientId", "userId", "email", "name", "traits"]

    /// Creates a parser.
    public init() {}

    /// Parses and validates; throws `FeedbackError.malformedJSON` or `.invalid(issues:)`.
    public func parse(_ body: some Collection<UInt8>) throws(FeedbackError) -> Identification {
        guard let value = JSONValue.parseRequestBody(body) else { throw .malformedJSON }
        guard case .object(let fields) = value else { throw .invalid(issues: ["body": ["Expected a JSON object"]]) }
        var issues: [String: [String]] = [:]
        func add(_ field: String, _ message: String) { issues[field, default: []].append(message) }
        for key in fields.keys.sorted() where !Self.knownFields.contains(key) { add(key, ErrorBody.unknownField) }
        // Ids and text with NUL are refused before anything else looks at them (see `containsNUL`).
        for key in ["clientId", "userId", "email", "name"] {
            if case .string(let value)? = fields[key], value.containsNUL { add(key, "Must not contain NUL characters") }
        }

        var clientId = ""
        // Trimmed as on feedback and uploads: ids never have surrounding white space; none left is no id at all.
        var given = fields["clientId"]
        if case .string(let value)? = given { given = .string(value.trimmingSurroundingWhitespace) }
        switch given {
        case .string(let value)? where value.containsNUL: break
        case .string(let value)? where !value.isEmpty && !value.exceedsLength(Self.maxIDLength): clientId = value
        case .string("")?, nil, .null?: add("clientId", "Required")
        case .string?: add("clientId", "Must be at most \(Self.maxIDLength) characters")
        default: add("clientId", "Expected a string")
        }
        var userId = ""
        switch fields["userId"] {
        case .string(let value)? where value.containsNUL: break
        case .string(let value)? where !value.isEmpty && !value.exceedsLength(Self.maxIDLength): userId = value
        case .string?: add("userId", "Must be 1 to \(Self.maxIDLength) characters")
        case nil, .null?: add("userId", "Required")
        default: add("userId", "Expected a string")
        }
        var email = FieldUpdate<String>.keep
        switch fields["email"] {
        case .string(let value)? where value.containsNUL: break
        case nil, .string("")?: break  // empty means absent, as `userEmail` on feedback
        case .null?: email = .clear
        case .string(let value)? where SubmissionParser.isValidEmail(value): email = .set(value)
        case .string?: add("email", "Invalid email address")
        default: add("email", "Expected a string")
        }
        var name = FieldUpdate<String>.keep
        switch fields["name"] {
        case .string(let value)? where value.containsNUL: break
        case nil: break
        case .null?: name = .clear
        case .string(let value)? where !value.exceedsLength(Self.maxNameLength): name = .set(value)
        case .string?: add("name", "Must be at most \(Self.maxNameLength) characters")
        default: add("name", "Expected a string")
        }
        let traits = parseTraits(fields["traits"], add: add)
        guard issues.isEmpty else { throw .invalid(issues: issues) }
        return Identification(clientId: clientId, userId: userId, email: email, name: name, traits: traits)
    }

    private func parseTraits(_ value: JSONValue?, add: (String, String) -> Void) -> FieldUpdate<[String: JSONValue]> {
        switch value {
        case nil: return .keep
        case .null?: return .clear
        case .object(let traits)?:
            var valid = true
            if traits.count > Self.maxTraits {
                add("traits", "At most \(Self.maxTraits) keys")
                valid = false
            }
            if traits.keys.contains(where: { $0.isEmpty || $0.exceedsLength(Self.maxTraitNameLength) }) {
                add("traits", "Trait names must be 1 to \(Self.maxTraitNameLength) characters")
                valid = false
            }
            for (key, trait) in traits.sorted(by: { $0.key < $1.key }) {
                switch trait {
                case .array, .object:
                    add("traits.\(key)", "Expected a string, number, boolean or null (traits are a flat object)")
                    valid = false
                default: break
                }
            }
            if valid, value!.jsonText.utf8.count > Self.maxTraitsBytes {
                add("traits", "Must be at most \(Self.maxTraitsBytes) bytes (2 KB) as JSON")
                valid = false
            }
            return valid ? .set(traits) : .keep
        default:
            add("traits", "Expected an object")
            return .keep
        }
    }
}
