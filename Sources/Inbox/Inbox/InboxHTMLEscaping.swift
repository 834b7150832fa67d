import Mustache

/// HTML escaping for the inbox's templates: the same five characters as swift-mustache's `HTML` content type
/// (`< > & " '`), over UTF-8 bytes, returning the value untouched when it holds none of them (most do not).
///
/// The library's escaper looks each `Character` up in a dictionary, which was a tenth of a page's CPU time.
/// Templates select this one with the `{{% CONTENT_TYPE: INBOX_HTML}}` pragma, which `InboxTemplates` puts first in
/// every template (partials too, since a partial starts again from the library's default).
struct InboxHTMLContentType: MustacheContentType {
    static let name = "INBOX_HTML"

    /// Makes the pragma known to the parser; templates that name it must be parsed after this.
    static func register() {
        MustacheContentTypes.register(InboxHTMLContentType(), named: name)
    }

    func escapeText(_ text: String) -> String {
        let utf8 = text.utf8
        guard utf8.contains(where: Self.isSpecial) else { return text }
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count + 32)
        for byte in utf8 {
            switch byte {
            case UInt8(ascii: "<"): out.append(contentsOf: Self.lt)
            case UInt8(ascii: ">"): out.append(contentsOf: Self.gt)
            case UInt8(ascii: "&"): out.append(contentsOf: Self.amp)
            case UInt8(ascii: "\""): out.append(contentsOf: Self.quot)
            case UInt8(ascii: "'"): out.append(contentsOf: Self.apos)
            default: out.append(byte)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func isSpecial(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: "<") || byte == UInt8(ascii: ">") || byte == UInt8(ascii: "&")
            || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'")
    }

    private static let lt = Array("&lt;".utf8)
    private static let gt = Array("&gt;".utf8)
    private static let amp = Array("&amp;".utf8)
    private static let quot = Array("&quot;".utf8)
    private static let apos = Array("&#39;".utf8)
}
