public import Hummingbird

/// An `application/x-www-form-urlencoded` body or query string: `+` is a space and `%XX` are UTF-8 bytes.
///
/// Foundation's `URLComponents` leaves `+` alone, which turns "Export+to+CSV" into a wrong comment; so does
/// Hummingbird's `queryParameters` (which decodes no key either), so `?environment=my+env`, as a browser's GET form or
/// `URLSearchParams` writes a space, missed `my env`. Every route reads its query through `formQuery()`.
public struct FormBody: Sendable {
    /// Fields in order; a repeated name keeps its first value in `subscript`.
    public let fields: [(name: String, value: String)]
    /// Names whose value held a `+` as sent (read as a space): where a plus sign is as likely as a space, a caller may
    /// refuse the guess.
    public let namesWithPlus: Set<String>

    /// Decodes `bytes`; nil when a percent escape is broken or the bytes are not UTF-8.
    public init?(_ bytes: some Collection<UInt8>) {
        var fields: [(String, String)] = []
        var namesWithPlus = Set<String>()
        for pair in bytes.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let parts = pair.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = Self.decode(parts[0], plusIsSpace: true) else { return nil }
            let value = parts.count > 1 ? Self.decode(parts[1], plusIsSpace: true) : ""
            guard let value else { return nil }
            if parts.count > 1, parts[1].contains(UInt8(ascii: "+")) { namesWithPlus.insert(name) }
            fields.append((name, value))
        }
        self.fields = fields
        self.namesWithPlus = namesWithPlus
    }

    /// No fields.
    public static let empty = FormBody(fields: [])

    private init(fields: [(name: String, value: String)]) {
        self.fields = fields
        self.namesWithPlus = []
    }

    /// The first value named `name`.
    public subscript(name: String) -> String? {
        fields.first { $0.name == name }?.value
    }

    /// A list's page parameters: `limit` (1 to `maxLimit`; `defaultLimit` when absent or empty) and `cursor` read
    /// by `parse` (nil when absent or empty). Each refused with a 400 naming it.
    public func page<Cursor>(defaultLimit: Int, maxLimit: Int, cursor parse: (String) -> Cursor?)
        throws(FeedbackError) -> (limit: Int, cursor: Cursor?)
    {
        var limit = defaultLimit
        if let text = self["limit"], !text.isEmpty {
            guard let value = Int(text), (1...maxLimit).contains(value) else {
                throw .badQuery(field: "limit", message: "limit must be an integer from 1 to \(maxLimit)")
            }
            limit = value
        }
        var cursor: Cursor?
        if let token = self["cursor"], !token.isEmpty {
            guard let value = parse(token) else { throw .badQuery(field: "cursor", message: "cursor is not valid") }
            cursor = value
        }
        return (limit, cursor)
    }

    /// Encodes fields for a request body.
    public static func encode(_ fields: [(String, String)]) -> String {
        fields.map { "\(percentEncoded($0.0))=\(percentEncoded($0.1))" }.joined(separator: "&")
    }

    /// `%XX` escapes decoded and `+` left as it is, as in a URL's parts outside a query (a user name, a path); nil for
    /// a broken escape or bytes that are not UTF-8.
    public static func percentDecoded(_ bytes: some Collection<UInt8>) -> String? {
        decode(bytes, plusIsSpace: false)
    }

    /// `text` with every byte but RFC 3986's unreserved ones as `%XX`.
    public static func percentEncoded(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded
            }
        }
        return out
    }

    private static func decode(_ bytes: some Collection<UInt8>, plusIsSpace: Bool) -> String? {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = bytes.startIndex
        while index != bytes.endIndex {
            let byte = bytes[index]
            if byte == UInt8(ascii: "+"), plusIsSpace {
                out.append(UInt8(ascii: " "))
            } else if byte == UInt8(ascii: "%") {
                let high = bytes.index(after: index)
                guard high != bytes.endIndex else { return nil }
                let low = bytes.index(after: high)
                guard low != bytes.endIndex, let h = hexValue(bytes[high]), let l = hexValue(bytes[low]) else {
                    return nil
                }
                out.append(h << 4 | l)
                index = low
            } else {
                out.append(byte)
            }
            index = bytes.index(after: index)
        }
        return String(validating: out, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

extension String {
    fileprivate var leftPadded: String { count == 1 ? "0" + self : self }
}

extension Request {
    /// Most bytes `refuseBody` reads before it refuses: room for `{}` or `null` with some whitespace.
    static let emptyBodyLimit = 64
    /// JSON's whitespace: space, tab, line feed, carriage return.
    static let jsonWhitespace: Set<UInt8> = [0x20, 0x09, 0x0A, 0x0D]

    /// The query string, read as a form (see `FormBody`). Throws `FeedbackError.badQuery` (a 400 naming the
    /// parameter, as other refusals of a query do) when a percent escape is broken or the bytes are not UTF-8.
    public func formQuery() throws(FeedbackError) -> FormBody {
        guard let query = uri.query else { return .empty }
        if let form = FormBody(query.utf8) { return form }
        let broken = query.split(separator: "&").first { FormBody($0.utf8) == nil }
        let name = broken.flatMap { FormBody($0.prefix { $0 != "=" }.utf8)?.fields.first?.name }
            .flatMap { $0.unicodeScalars.count <= 64 ? $0 : nil } ?? "query"
        throw .badQuery(field: name, message: "\(name) has a broken percent-encoding")
    }

    /// The query string read as a form of the parameters in `names`, each at most once: a typo (`enviroment`) or a
    /// second value would otherwise be dropped in silence, and an unfiltered answer taken for a filtered one.
    public func formQuery(allowing names: Set<String>) throws(FeedbackError) -> FormBody {
        let form = try formQuery()
        var seen = Set<String>()
        for (name, _) in form.fields {
            let shown = name.unicodeScalars.count <= 64 && !name.containsNUL ? name : "query"
            guard names.contains(name) else {
                let taken = names.isEmpty ? "it takes none" : names.sorted().joined(separator: ", ")
                throw .badQuery(field: shown, message: "\(shown) is not a parameter of this route (\(taken))")
            }
            guard seen.insert(name).inserted else { throw .badQuery(field: shown, message: "\(shown) is given more than once") }
        }
        return form
    }

    /// Refuses any query parameter, for a route that reads none: `?dryRun=1` or `?kind=…` would otherwise be dropped
    /// in silence while the request does all it does (an outside review closed an account that way).
    public func refuseQuery() throws(FeedbackError) {
        _ = try formQuery(allowing: [])
    }

    /// Refuses a body, for a route that reads none, once it holds more than an empty JSON object (at most
    /// `emptyBodyLimit` bytes are read). No body, an empty one, `{}` or `null` (around JSON's whitespace) pass.
    public func refuseBody() async throws {
        // What a client that always sends JSON sends for "nothing" (`requests.post(url, json={})`, `body: "{}"`)
        // carries nothing to drop, and passes too; anything else is refused once more than that came.
        var sent: [UInt8] = []
        for try await chunk in body where chunk.readableBytes > 0 {
            sent += chunk.readableBytesView
            if sent.count > Self.emptyBodyLimit { throw FeedbackError.unexpectedBody }
        }
        let text = sent.filter { !Self.jsonWhitespace.contains($0) }
        guard text.isEmpty || text == Array("{}".utf8) || text == Array("null".utf8) else {
            throw FeedbackError.unexpectedBody
        }
    }

    /// The query string read as a form, or no fields when it does not decode: for HTML pages, which show their
    /// defaults rather than a JSON error.
    public var lenientFormQuery: FormBody { (try? formQuery()) ?? .empty }
}
