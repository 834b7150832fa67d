import NIOCore

/// The top-level `"clientId"` strings of a JSON object, read without building the whole document: what the rate
/// limit needs before the route parses the body for real (a full Foundation parse here cost about a fifth of a
/// submission's CPU time).
///
/// It reads UTF-8 only and gives up (nil) on anything it is not sure of (other encodings, bad escapes, broken
/// syntax); the caller then falls back to the full parser, so a caller cannot slip past the limit with a body the
/// route would still accept. Every `clientId` found is returned: whichever one the route's parser keeps is counted.
enum ClientIDScanner {
    static func scan(_ bytes: ByteBufferView) -> [String]? {
        var scanner = Scanner(bytes: bytes)
        return scanner.topLevelClientIDs()
    }

    private struct Scanner {
        let bytes: ByteBufferView
        var index: ByteBufferView.Index

        init(bytes: ByteBufferView) {
            self.bytes = bytes
            index = bytes.startIndex
        }

        var current: UInt8? { index < bytes.endIndex ? bytes[index] : nil }

        mutating func skipWhitespace() {
            while let byte = current, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { index += 1 }
        }

        mutating func expect(_ byte: UInt8) -> Bool {
            guard current == byte else { return false }
            index += 1
            return true
        }

        mutating func topLevelClientIDs() -> [String]? {
            skipWhitespace()
            guard expect(UInt8(ascii: "{")) else { return nil }
            var found: [String] = []
            skipWhitespace()
            if expect(UInt8(ascii: "}")) { return trailingIsEmpty() ? found : nil }
            while true {
                skipWhitespace()
                guard let key = string() else { return nil }
                skipWhitespace()
                guard expect(UInt8(ascii: ":")) else { return nil }
                skipWhitespace()
                if key == "clientId", current == UInt8(ascii: "\"") {
                    guard let value = string() else { return nil }
                    found.append(value)
                } else {
                    guard skipValue() else { return nil }
                }
                skipWhitespace()
                if expect(UInt8(ascii: ",")) { continue }
                guard expect(UInt8(ascii: "}")) else { return nil }
                return trailingIsEmpty() ? found : nil
            }
        }

        mutating func trailingIsEmpty() -> Bool {
            skipWhitespace()
            return current == nil
        }

        /// A JSON string, unescaped; nil when it is not a valid one.
        mutating func string() -> String? {
            guard expect(UInt8(ascii: "\"")) else { return nil }
            var utf8: [UInt8] = []
            while let byte = current {
                index += 1
                switch byte {
                case UInt8(ascii: "\""):
                    return String(validating: utf8, as: UTF8.self)
                case UInt8(ascii: "\\"):
                    guard let escaped = current else { return nil }
                    index += 1
                    switch escaped {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(escaped)
                    case UInt8(ascii: "b"): utf8.append(0x08)
                    case UInt8(ascii: "f"): utf8.append(0x0C)
                    case UInt8(ascii: "n"): utf8.append(0x0A)
                    case UInt8(ascii: "r"): utf8.append(0x0D)
                    case UInt8(ascii: "t"): utf8.append(0x09)
                    case UInt8(ascii: "u"):
                        guard var scalar = hex4() else { return nil }
                        if (0xD800..<0xDC00).contains(scalar) {
                            guard expect(UInt8(ascii: "\\")), expect(UInt8(ascii: "u")), let low = hex4(),
                                (0xDC00..<0xE000).contains(low)
                            else { return nil }
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        }
                        guard let unicode = Unicode.Scalar(scalar) else { return nil }
                        utf8.append(contentsOf: Array(String(Character(unicode)).utf8))
                    default:
                        return nil
                    }
                case 0..<0x20:
                    return nil
                default:
                    utf8.append(byte)
                }
            }
            return nil
        }

        mutating func hex4() -> UInt32? {
            var value: UInt32 = 0
            for _ in 0..<4 {
                guard let byte = current else { return nil }
                index += 1
                let digit: UInt8
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
                default: return nil
                }
                value = value << 4 | UInt32(digit)
            }
            return value
        }

        /// Skips one value of any kind (nested containers by depth, strings by their escapes); false on bad syntax.
        /// Scalars are only delimited here, not validated: a malformed number fails the route's own parse.
        mutating func skipValue() -> Bool {
            var depth = 0
            repeat {
                skipWhitespace()
                guard let byte = current else { return false }
                switch byte {
                case UInt8(ascii: "\""):
                    guard string() != nil else { return false }
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    depth += 1
                    index += 1
                    guard depth <= 512 else { return false }
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    guard depth > 0 else { return false }
                    depth -= 1
                    index += 1
                case UInt8(ascii: ","), UInt8(ascii: ":"):
                    guard depth > 0 else { return false }
                    index += 1
                default:
                    // A number, true, false or null: up to the next delimiter.
                    while let next = current, !Self.isDelimiter(next) { index += 1 }
                }
            } while depth > 0
            return true
        }

        static func isDelimiter(_ byte: UInt8) -> Bool {
            switch byte {
            case UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]"), UInt8(ascii: ":"), UInt8(ascii: "\""),
                UInt8(ascii: "{"), UInt8(ascii: "["), 0x20, 0x09, 0x0A, 0x0D:
                true
            default:
                false
            }
        }
    }
}
