/// The strings that decide whether an Events API body is dropped unread — the envelope's `type` and its
/// `event.type` — and the workspace a dropped event still counts for (`authorizations[0].team_id`, else
/// `team_id`, as `EventEnvelope.workspace` reads it: every event seen refreshes the installation's last-event time,
/// where recovery starts), found by one pass over the bytes that also checks the whole body is well-formed JSON.
///
/// Most deliveries are `message` events usero never handles (the app must subscribe to them for reactions on
/// messages to be visible at all); decoding each into `EventEnvelope` cost about a fifth of the route's CPU. The
/// peek answers nil whenever it is not sure — malformed or non-UTF-8 input, nesting deeper than `maxDepth`, an
/// escape inside one of the strings it keeps, a repeated key, a `team_id` or `authorizations` of a shape the decoder
/// would refuse — and the caller then takes the full decoding path, which gives the same answers as before. It
/// allocates nothing but the short strings it keeps.
struct EventPeek: Equatable {
    /// The top-level `type` (`event_callback`, `url_verification`, …).
    var type: String
    /// `event.type` when `event` is an object with a string `type`.
    var eventType: String?
    /// The first authorization's `team_id`, else the envelope's `team_id` (`EventEnvelope.workspace`).
    var workspace: String?

    static let maxDepth = 64

    init(type: String, eventType: String?, workspace: String? = nil) {
        self.type = type
        self.eventType = eventType
        self.workspace = workspace
    }

    init?(_ body: [UInt8]) {
        let found = body.withUnsafeBufferPointer { bytes in
            var scanner = Scanner(bytes: bytes)
            return scanner.scanDocument()
        }
        guard let found else { return nil }
        (type, eventType, workspace) = found
    }
}

private struct Scanner {
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0

    init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    private static let quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\")

    /// The whole document: an object whose members are scanned, with `type` and `event.type` kept.
    mutating func scanDocument() -> (String, String?, String?)? {
        skipSpace()
        guard peek == UInt8(ascii: "{") else { return nil }
        var type: String?
        var eventType: String?
        var sawEvent = false
        var teamID: String?
        var sawTeamID = false
        var authorizationTeamID: String?
        var sawAuthorizations = false
        let ok = scanObject(depth: 1) { scanner, key in
            switch key {
            case .type:
                guard type == nil, let value = scanner.scanSimpleStringValue() else { return false }
                type = value
                return true
            case .event:
                guard !sawEvent else { return false }
                sawEvent = true
                if scanner.peek == UInt8(ascii: "{") {
                    return scanner.scanObject(depth: 2) { inner, key in
                        guard key == .type else { return inner.scanValue(depth: 3) }
                        guard eventType == nil else { return false }
                        if inner.peek == Self.quote {
                            guard let value = inner.scanSimpleStringValue() else { return false }
                            eventType = value
                            return true
                        }
                        return inner.scanValue(depth: 3)
                    }
                }
                return scanner.scanValue(depth: 2)
            case .teamID:
                guard !sawTeamID else { return false }
                sawTeamID = true
                return scanner.scanOptionalSimpleString(&teamID)
            case .authorizations:
                guard !sawAuthorizations else { return false }
                sawAuthorizations = true
                return scanner.scanAuthorizations(&authorizationTeamID)
            case .other:
                return scanner.scanValue(depth: 2)
            }
        }
        guard ok, let type else { return nil }
        skipSpace()
        guard index == bytes.count, Self.isValidUTF8(bytes) else { return nil }
        return (type, eventType, authorizationTeamID ?? teamID)
    }

    enum Key { case type, event, teamID, authorizations, other }

    /// A string without escapes (kept in `value`) or `null`; anything else is a shape the decoder refuses.
    mutating func scanOptionalSimpleString(_ value: inout String?) -> Bool {
        if peek == UInt8(ascii: "n") { return literal("null") }
        guard let text = scanSimpleStringValue() else { return false }
        value = text
        return true
    }

    /// `authorizations`: `null`, or an array of objects whose `team_id` is a string or `null`; the first one's kept.
    mutating func scanAuthorizations(_ first: inout String?) -> Bool {
        if peek == UInt8(ascii: "n") { return literal("null") }
        guard peek == UInt8(ascii: "[") else { return false }
        index += 1
        skipSpace()
        if peek == UInt8(ascii: "]") {
            index += 1
            return true
        }
        var position = 0
        while true {
            skipSpace()
            var teamID: String?
            var sawTeamID = false
            let ok = scanObject(depth: 3) { inner, key in
                guard key == .teamID else { return inner.scanValue(depth: 4) }
                guard !sawTeamID else { return false }
                sawTeamID = true
                return inner.scanOptionalSimpleString(&teamID)
            }
            guard ok else { return false }
            if position == 0 { first = teamID }
            position += 1
            skipSpace()
            switch peek {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"):
                index += 1
                return true
            default: return false
            }
        }
    }

    var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

    mutating func skipSpace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    /// `{ "key": value, … }` at `index`; `member` scans each value (index at the value's first byte).
    mutating func scanObject(depth: Int, member: (inout Scanner, Key) -> Bool) -> Bool {
        guard depth <= EventPeek.maxDepth, peek == UInt8(ascii: "{") else { return false }
        index += 1
        skipSpace()
        if peek == UInt8(ascii: "}") {
            index += 1
            return true
        }
        while true {
            skipSpace()
            guard peek == Self.quote, let key = scanKey() else { return false }
            skipSpace()
            guard peek == UInt8(ascii: ":") else { return false }
            index += 1
            skipSpace()
            guard member(&self, key) else { return false }
            skipSpace()
            switch peek {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"):
                index += 1
                return true
            default: return false
            }
        }
    }

    /// Any JSON value at `index`.
    mutating func scanValue(depth: Int) -> Bool {
        guard depth <= EventPeek.maxDepth, let byte = peek else { return false }
        switch byte {
        case UInt8(ascii: "{"):
            return scanObject(depth: depth) { scanner, _ in scanner.scanValue(depth: depth + 1) }
        case UInt8(ascii: "["):
            index += 1
            skipSpace()
            if peek == UInt8(ascii: "]") {
                index += 1
                return true
            }
            while true {
                skipSpace()
                guard scanValue(depth: depth + 1) else { return false }
                skipSpace()
                switch peek {
                case UInt8(ascii: ","): index += 1
                case UInt8(ascii: "]"):
                    index += 1
                    return true
                default: return false
                }
            }
        case Self.quote:
            return skipString()
        case UInt8(ascii: "t"): return literal("true")
        case UInt8(ascii: "f"): return literal("false")
        case UInt8(ascii: "n"): return literal("null")
        default:
            return scanNumber()
        }
    }

    mutating func literal(_ text: StaticString) -> Bool {
        let count = text.utf8CodeUnitCount
        guard bytes.count - index >= count else { return false }
        for offset in 0..<count where bytes[index + offset] != text.utf8Start[offset] { return false }
        index += count
        return true
    }

    /// RFC 8259 number: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    mutating func scanNumber() -> Bool {
        if peek == UInt8(ascii: "-") { index += 1 }
        guard let first = peek, isDigit(first) else { return false }
        index += 1
        if first != UInt8(ascii: "0") { skipDigits() }
        if peek == UInt8(ascii: ".") {
            index += 1
            guard let digit = peek, isDigit(digit) else { return false }
            skipDigits()
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            index += 1
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { index += 1 }
            guard let digit = peek, isDigit(digit) else { return false }
            skipDigits()
        }
        return true
    }

    func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    mutating func skipDigits() {
        while let byte = peek, isDigit(byte) { index += 1 }
    }

    /// A string at `index` (the opening quote), escapes checked; no control characters inside.
    mutating func skipString() -> Bool {
        index += 1
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case Self.quote:
                index += 1
                return true
            case Self.backslash:
                index += 1
                guard let escaped = peek else { return false }
                switch escaped {
                case UInt8(ascii: "\""), Self.backslash, UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                    UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    index += 1
                case UInt8(ascii: "u"):
                    guard bytes.count - index >= 5 else { return false }
                    for offset in 1...4 where !isHex(bytes[index + offset]) { return false }
                    index += 5
                default:
                    return false
                }
            case 0x00..<0x20:
                return false
            default:
                index += 1
            }
        }
        return false
    }

    func isHex(_ byte: UInt8) -> Bool {
        isDigit(byte) || (byte | 0x20 >= UInt8(ascii: "a") && byte | 0x20 <= UInt8(ascii: "f"))
    }

    /// A member name: which of the keys it is (an escaped name is never one of them, only skipped).
    mutating func scanKey() -> Key? {
        let start = index + 1
        guard skipString() else { return nil }
        let name = UnsafeBufferPointer(rebasing: bytes[start..<(index - 1)])
        // By length first, then byte by byte against a static string: comparing every name with each key's
        // String.UTF8View was 1.6 % of an ignored event's CPU.
        switch name.count {
        case 4 where Self.equals(name, "type"): return .type
        case 5 where Self.equals(name, "event"): return .event
        case 7 where Self.equals(name, "team_id"): return .teamID
        case 14 where Self.equals(name, "authorizations"): return .authorizations
        default: return .other
        }
    }

    static func equals(_ name: UnsafeBufferPointer<UInt8>, _ text: StaticString) -> Bool {
        guard name.count == text.utf8CodeUnitCount else { return false }
        for offset in 0..<name.count where name[offset] != text.utf8Start[offset] { return false }
        return true
    }

    /// A string value with no escapes, as a String; nil for anything else (the caller gives up).
    mutating func scanSimpleStringValue() -> String? {
        guard peek == Self.quote else { return nil }
        let start = index + 1
        guard skipString() else { return nil }
        let content = UnsafeBufferPointer(rebasing: bytes[start..<(index - 1)])
        guard content.count <= 256, !content.contains(Self.backslash) else { return nil }
        return String(decoding: content, as: UTF8.self)  // the whole body was checked as UTF-8 first
    }

    /// Well-formed UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF), as JSON requires.
    static func isValidUTF8(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var i = 0
        let n = bytes.count
        while i < n {
            let b0 = bytes[i]
            if b0 < 0x80 {
                i += 1
                continue
            }
            func continuation(_ offset: Int) -> UInt8? {
                guard i + offset < n, bytes[i + offset] & 0xC0 == 0x80 else { return nil }
                return bytes[i + offset]
            }
            switch b0 {
            case 0xC2...0xDF:
                guard continuation(1) != nil else { return false }
                i += 2
            case 0xE0...0xEF:
                guard let b1 = continuation(1), continuation(2) != nil else { return false }
                if b0 == 0xE0 && b1 < 0xA0 { return false }  // overlong
                if b0 == 0xED && b1 > 0x9F { return false }  // surrogate
                i += 3
            case 0xF0...0xF4:
                guard let b1 = continuation(1), continuation(2) != nil, continuation(3) != nil else { return false }
                if b0 == 0xF0 && b1 < 0x90 { return false }  // overlong
                if b0 == 0xF4 && b1 > 0x8F { return false }  // above U+10FFFF
                i += 4
            default:
                return false
            }
        }
        return true
    }
}
