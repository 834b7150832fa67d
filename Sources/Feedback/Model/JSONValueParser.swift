/// RFC 8259 JSON, from UTF-8 bytes straight to `JSONValue`, in one pass.
///
/// Foundation's `JSONSerialization` builds `NSNumber`s, `NSDictionary`s and bridged strings that `JSONValue` then
/// converts back, and looks up generic metadata for every string it makes: together about 8 % of a durable
/// `POST /api/feedback`'s CPU. This reads the same documents the same way (a differential test holds it to
/// `JSONSerialization`): RFC 8259's grammar, UTF-8 validated, escapes and surrogate pairs decoded, integers that fit
/// `Int64` as `.int` and every other number as a finite `.double`, the last of duplicate keys kept, a top-level
/// scalar accepted, nesting bounded. Three differences: it refuses a trailing comma in an array or object (`[1,]`,
/// `{"a":1,}`), which `JSONSerialization` lets pass but is not JSON, so such a body is a 400 as the contract asks of
/// malformed JSON; it reads UTF-8 only, as RFC 8259 requires of JSON exchanged between systems (a leading
/// byte-order mark is skipped); and it keeps a negative integer of 19 digits that fits `Int64` exact, where
/// `JSONSerialization` rounds every such integer to a double.
struct JSONValueParser {
    /// Deepest nesting of arrays and objects accepted; the parser recurses once per level (`JSONSerialization`
    /// allows the same).
    static let maxDepth = 512

    private let bytes: UnsafeBufferPointer<UInt8>
    private var index = 0
    /// Whether some object named a key twice (the last is kept).
    private(set) var sawDuplicateKey = false
    /// Whether some integer lies past a double's range (`parseRequestBody` refuses those).
    private(set) var sawIntegerPastDouble = false

    private init(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    /// The value `bytes` hold, or nil when they are not one JSON document.
    static func parse(_ bytes: some Collection<UInt8>) -> JSONValue? {
        parseNoticingDuplicateKeys(bytes)?.value
    }

    /// The value `bytes` hold and whether an object in it named a key twice; nil when they are not one JSON document.
    static func parseNoticingDuplicateKeys(_ bytes: some Collection<UInt8>) -> (value: JSONValue, duplicateKeys: Bool)? {
        parsed(bytes).map { ($0.value, $0.sawDuplicateKey) }
    }

    /// The value `bytes` hold, nil when they are not one JSON document or hold an integer past a double's range
    /// (`JSONValue.parseRequestBody`).
    static func parseRequestBody(_ bytes: some Collection<UInt8>) -> JSONValue? {
        guard let parsed = parsed(bytes), !parsed.sawIntegerPastDouble else { return nil }
        return parsed.value
    }

    private static func parsed(_ bytes: some Collection<UInt8>) -> (value: JSONValue, sawDuplicateKey: Bool, sawIntegerPastDouble: Bool)? {
        if let parsed = bytes.withContiguousStorageIfAvailable({ parse(buffer: $0) }) { return parsed }
        return Array(bytes).withUnsafeBufferPointer { parse(buffer: $0) }
    }

    private static func parse(buffer: UnsafeBufferPointer<UInt8>)
        -> (value: JSONValue, sawDuplicateKey: Bool, sawIntegerPastDouble: Bool)?
    {
        var parser = JSONValueParser(buffer)
        if buffer.count >= 3, buffer[0] == 0xEF, buffer[1] == 0xBB, buffer[2] == 0xBF { parser.index = 3 }
        parser.skipWhitespace()
        guard let value = parser.value(depth: 0) else { return nil }
        parser.skipWhitespace()
        return parser.index == buffer.count ? (value, parser.sawDuplicateKey, parser.sawIntegerPastDouble) : nil
    }

    private var current: UInt8? { index < bytes.count ? bytes[index] : nil }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    private mutating func value(depth: Int) -> JSONValue? {
        switch current {
        case UInt8(ascii: "{")?: return object(depth: depth + 1)
        case UInt8(ascii: "[")?: return array(depth: depth + 1)
        case UInt8(ascii: "\"")?: return string().map(JSONValue.string)
        case UInt8(ascii: "t")?: return literal("true", .bool(true))
        case UInt8(ascii: "f")?: return literal("false", .bool(false))
        case UInt8(ascii: "n")?: return literal("null", .null)
        case UInt8(ascii: "-")?, (UInt8(ascii: "0")...UInt8(ascii: "9"))?: return number()
        default: return nil
        }
    }

    private mutating func literal(_ word: StaticString, _ value: JSONValue) -> JSONValue? {
        let count = word.utf8CodeUnitCount
        guard bytes.count - index >= count else { return nil }
        for offset in 0..<count where bytes[index + offset] != word.utf8Start[offset] { return nil }
        index += count
        return value
    }

    private mutating func object(depth: Int) -> JSONValue? {
        guard depth <= Self.maxDepth else { return nil }
        index += 1  // {
        var members: [String: JSONValue] = [:]
        skipWhitespace()
        if current == UInt8(ascii: "}") {
            index += 1
            return .object(members)
        }
        while true {
            guard current == UInt8(ascii: "\""), let key = string() else { return nil }
            skipWhitespace()
            guard current == UInt8(ascii: ":") else { return nil }
            index += 1
            skipWhitespace()
            guard let member = value(depth: depth) else { return nil }
            if members.updateValue(member, forKey: key) != nil { sawDuplicateKey = true }
            skipWhitespace()
            switch current {
            case UInt8(ascii: ",")?:
                index += 1
                skipWhitespace()
            case UInt8(ascii: "}")?:
                index += 1
                return .object(members)
            default:
                return nil
            }
        }
    }

    private mutating func array(depth: Int) -> JSONValue? {
        guard depth <= Self.maxDepth else { return nil }
        index += 1  // [
        var elements: [JSONValue] = []
        skipWhitespace()
        if current == UInt8(ascii: "]") {
            index += 1
            return .array(elements)
        }
        while true {
            guard let element = value(depth: depth) else { return nil }
            elements.append(element)
            skipWhitespace()
            switch current {
            case UInt8(ascii: ",")?:
                index += 1
                skipWhitespace()
            case UInt8(ascii: "]")?:
                index += 1
                return .array(elements)
            default:
                return nil
            }
        }
    }

    /// A string literal starting at its opening quote.
    private mutating func string() -> String? {
        index += 1  // "
        let start = index
        // Most strings have no escapes: one scan to the closing quote, then one validating copy.
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                let text = String(validating: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
                index += 1
                return text
            }
            if byte == UInt8(ascii: "\\") { return escapedString(from: start) }
            if byte < 0x20 { return nil }
            index += 1
        }
        return nil
    }

    /// The rest of a string literal that has escapes; `start` is just after its opening quote.
    private mutating func escapedString(from start: Int) -> String? {
        var text = Array(bytes[start..<index])
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                return String(validating: text, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard let escaped = current else { return nil }
                index += 1
                switch escaped {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): text.append(escaped)
                case UInt8(ascii: "b"): text.append(0x08)
                case UInt8(ascii: "f"): text.append(0x0C)
                case UInt8(ascii: "n"): text.append(0x0A)
                case UInt8(ascii: "r"): text.append(0x0D)
                case UInt8(ascii: "t"): text.append(0x09)
                case UInt8(ascii: "u"):
                    guard let scalar = unicodeEscape() else { return nil }
                    text.append(contentsOf: UTF8.encode(scalar)!)
                default: return nil
                }
            case 0..<0x20:
                return nil
            default:
                text.append(byte)
            }
        }
        return nil
    }

    /// The scalar of a `\uXXXX` escape (its `\u` already read), joining a surrogate pair; nil for a lone surrogate.
    private mutating func unicodeEscape() -> Unicode.Scalar? {
        guard let first = hexQuad() else { return nil }
        switch first {
        case 0xD800...0xDBFF:
            guard bytes.count - index >= 2, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u")
            else { return nil }
            index += 2
            guard let second = hexQuad(), (0xDC00...0xDFFF).contains(second) else { return nil }
            return Unicode.Scalar(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00))
        case 0xDC00...0xDFFF:
            return nil
        default:
            return Unicode.Scalar(first)
        }
    }

    private mutating func hexQuad() -> UInt32? {
        guard bytes.count - index >= 4 else { return nil }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: return nil
            }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`: an integer (`Int64` when it fits, else its digits), or
    /// a finite double.
    private mutating func number() -> JSONValue? {
        let start = index
        let negative = current == UInt8(ascii: "-")
        if negative { index += 1 }
        guard let first = current, isDigit(first) else { return nil }
        if first == UInt8(ascii: "0") {
            index += 1
        } else {
            skipDigits()
        }
        var integral = true
        if current == UInt8(ascii: ".") {
            integral = false
            index += 1
            guard let digit = current, isDigit(digit) else { return nil }
            skipDigits()
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            integral = false
            index += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
            guard let digit = current, isDigit(digit) else { return nil }
            skipDigits()
        }
        let text = UnsafeBufferPointer(rebasing: bytes[start..<index])
        if integral {
            if let integer = Self.int64(text, negative: negative) { return .int(integer) }
            let digits = String(decoding: text, as: UTF8.self)
            if !(Double(digits)?.isFinite ?? false) { sawIntegerPastDouble = true }
            return .bigInteger(digits)
        }
        guard let double = Double(String(decoding: text, as: UTF8.self)), double.isFinite else { return nil }
        return .double(double)
    }

    private func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    private mutating func skipDigits() {
        while let byte = current, isDigit(byte) { index += 1 }
    }

    /// The integer an optional minus and digits spell, or nil when it does not fit `Int64`.
    private static func int64(_ text: UnsafeBufferPointer<UInt8>, negative: Bool) -> Int64? {
        var value: Int64 = 0
        for byte in text.dropFirst(negative ? 1 : 0) {
            let digit = Int64(byte - UInt8(ascii: "0"))
            let (shifted, overflow) = value.multipliedReportingOverflow(by: 10)
            guard !overflow else { return nil }
            // Accumulate toward the sign so Int64.min, whose magnitude has no positive Int64, still fits.
            let (next, overflowAgain) =
                negative ? shifted.subtractingReportingOverflow(digit) : shifted.addingReportingOverflow(digit)
            guard !overflowAgain else { return nil }
            value = next
        }
        return value
    }
}
