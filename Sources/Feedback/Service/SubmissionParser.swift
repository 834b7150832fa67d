import Foundation

/// Turns a `POST /api/feedback` body into a draft, applying every documented rule, and names each failing field.
public struct SubmissionParser: Sendable {
    /// Largest serialized `metadata`, in bytes (10 KB).
    public static let maxMetadataBytes = 10 * 1024
    /// Deepest `metadata` nesting, the object itself being 1: common JSON readers refuse deeper documents (jq 1.6 at
    /// 256 levels, serde_json at 128, Ruby at 100), and one submission nested 300 deep made every admin list page that
    /// held it unreadable to them (found by a review). The list's answer holds it three levels down: 64 leaves them
    /// all room.
    public static let maxMetadataDepth = 64
    /// Most screenshots one item may carry.
    public static let maxScreenshots = 10
    /// Longest `comment`, in characters (Unicode scalars, as most languages count a string's length): longer than
    /// any Slack message (40,000), and a bound on what one request can store (at most 200 KB of UTF-8).
    public static let maxCommentCharacters = 50_000
    /// Longest `pageUrl` and `referrer` (and `Referer` standing in for `pageUrl`), in characters.
    public static let maxURLLength = 8192

    static let knownFields: Set<String> = [
        "clientId", "rating", "comment", "userEmail", "pageUrl", "pageTitle", "referrer", "environment",
        "screenshots", "metadata", "sessionReplayId", "replayOffsetMs", "userId",
    ]

    /// What the HTTP layer knows besides the body.
    public struct Context: Sendable {
        public var isWidget: Bool
        public var referer: String?
        /// Creates the request context.
        public init(isWidget: Bool, referer: String?) {
            self.isWidget = isWidget
            self.referer = referer
        }
    }

    /// Creates a parser.
    public init() {}

    /// Parses and validates; throws `FeedbackError.malformedJSON`, `.invalid(issues:)` or `.metadataTooLarge`.
    public func parse(_ body: some Collection<UInt8>, context: Context) throws(FeedbackError) -> FeedbackDraft {
        guard let value = JSONValue.parseRequestBody(body) else { throw .malformedJSON }
        guard case .object(let fields) = value else {
            throw .invalid(issues: ["body": ["Expected a JSON object"]])
        }
        var issues = Issues()
        for key in fields.keys where !Self.knownFields.contains(key) {
            issues.add(key, ErrorBody.unknownField)
        }
        // Surrounding white space is dropped, as from an upload's `clientId` field: ids never have any.
        let clientId = issues.string(fields, "clientId", required: true, maxLength: 128, trimmed: true)
        let rating = issues.integer(fields, "rating")
        if let rating, !(1...4).contains(rating) { issues.add("rating", "Rating must be an integer from 1 to 4") }
        var comment = issues.string(fields, "comment")
        // Counted in scalars, not grapheme clusters: one cluster can carry any number of combining marks.
        if let text = comment, text.exceedsLength(Self.maxCommentCharacters) {
            issues.add("comment", "Must be at most \(Self.maxCommentCharacters) characters")
            comment = nil
        }
        var userEmail = issues.string(fields, "userEmail", maxLength: 254)
        if userEmail == "" { userEmail = nil }
        if let email = userEmail, !Self.isValidEmail(email) { issues.add("userEmail", "Invalid email address") }
        let pageUrl = issues.string(fields, "pageUrl", maxLength: Self.maxURLLength)
        // Empty: absent, as an empty `userEmail` or `environment` is (they read back `""` beside those `null`s).
        let pageTitle = issues.string(fields, "pageTitle", maxLength: 8192).flatMap { $0.isEmpty ? nil : $0 }
        let referrer = issues.string(fields, "referrer", maxLength: Self.maxURLLength).flatMap { $0.isEmpty ? nil : $0 }
        // Without the white space around it (" staging " was an environment of its own beside "staging", and a
        // name read from a config file with its line end was refused; found by a review). Empty or blank: the default
        // environment, as when omitted (a blank name could not be told apart in a list).
        var environment = issues.string(fields, "environment", maxLength: 128)?
            .trimmingCharacters(in: .whitespacesAndNewlines)
        if let name = environment, name.isBlank {
            environment = nil
        }
        // A name is picked from a list and sent back by a form, which turns a line feed into CR LF: a name holding a
        // line end or another control character could be listed but never filtered to.
        if let name = environment, name.unicodeScalars.contains(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }) {
            issues.add("environment", "Must not contain control characters (line breaks, tabs)")
            environment = nil
        }
        let sessionReplayId = issues.string(fields, "sessionReplayId", maxLength: 128)
        if sessionReplayId == "" { issues.add("sessionReplayId", "Must be 1 to 128 characters") }
        let replayOffsetMs = issues.integer(fields, "replayOffsetMs")
        if let offset = replayOffsetMs, offset < 0 { issues.add("replayOffsetMs", "Must be a non-negative integer") }
        let userId = issues.string(fields, "userId", maxLength: 128)
        if userId == "" { issues.add("userId", "Must be 1 to 128 characters") }
        let screenshots = parseScreenshots(fields["screenshots"], issues: &issues)
        var metadata: JSONValue?
        switch fields["metadata"] {
        case nil, .null?: metadata = nil
        case .object?:
            metadata = fields["metadata"]
            if metadata!.nestingDepth > Self.maxMetadataDepth {
                issues.add("metadata", "Must be nested at most \(Self.maxMetadataDepth) levels deep")
                metadata = nil
            }
        default: issues.add("metadata", "Expected an object")
        }
        let hasComment = !(comment ?? "").isBlank
        if rating == nil && !hasComment && issues.isEmpty {
            issues.add("rating", "Either a rating (1 to 4) or a non-empty comment is required")
        }
        guard issues.isEmpty else { throw .invalid(issues: issues.byField) }
        if let metadata, metadata.jsonText.utf8.count > Self.maxMetadataBytes { throw .metadataTooLarge }
        return FeedbackDraft(
            clientId: clientId ?? "", source: context.isWidget ? .widget : .api, rating: rating.map(Int.init),
            comment: comment, userEmail: userEmail,
            // Empty counts as absent (as `userEmail`), so the `Referer` stands in for it, within the same limit (a
            // longer one is left out: the browser sent it, not the caller).
            pageUrl: Self.nonEmpty(pageUrl) ?? Self.pageURL(fromReferer: context.referer),
            pageTitle: pageTitle, referrer: referrer, environment: environment, metadata: metadata,
            screenshots: screenshots, sessionReplayId: sessionReplayId, replayOffsetMs: replayOffsetMs,
            userId: userId)
    }

    /// The `Referer` as the page of a submission that names none: within the same limit (a longer one is left out:
    /// the browser sent it, not the caller).
    public static func pageURL(fromReferer referer: String?) -> String? {
        nonEmpty(referer).flatMap { $0.exceedsLength(maxURLLength) ? nil : $0 }
    }

    private func parseScreenshots(_ value: JSONValue?, issues: inout Issues) -> [ScreenshotRef] {
        switch value {
        case nil, .null?: return []
        case .array(let items)?:
            if items.count > Self.maxScreenshots {
                issues.add("screenshots", "At most \(Self.maxScreenshots) screenshots")
                return []
            }
            var result: [ScreenshotRef] = []
            for (index, item) in items.enumerated() {
                let path = "screenshots.\(index)"
                guard case .object(let fields) = item else {
                    issues.add(path, "Expected a screenshot object")
                    continue
                }
                var local = Issues()
                for key in fields.keys where !["fileName", "url", "fileSize", "mimeType", "width", "height"].contains(key) {
                    local.add(key, ErrorBody.unknownField)
                }
                let fileName = local.string(fields, "fileName", required: true, maxLength: 512)
                let url = local.string(fields, "url", required: true, maxLength: 2048)
                let size = local.integer(fields, "fileSize", required: true)
                let mime = local.string(fields, "mimeType", required: true, maxLength: 128)
                let width = local.integer(fields, "width")
                let height = local.integer(fields, "height")
                // What an upload can be: at most the largest file, dimensions that fit 32 bits (as the sniffer's).
                if let size, !(0...Int64(FeedbackService.maxScreenshotBytes)).contains(size) {
                    local.add("fileSize", "Must be an integer from 0 to \(FeedbackService.maxScreenshotBytes)")
                }
                if let mime, !mime.lowercased().hasPrefix("image/") { local.add("mimeType", "Must be an image type") }
                // Kept and handed to whatever reads the admin API as the image's address: never `javascript:` or a
                // path (an upload of this client has its stored URL put in place of what was sent anyway).
                if let url, !WebAddress.isHTTP(url) { local.add("url", "Must be an http or https URL") }
                for (field, value) in [("width", width), ("height", height)] {
                    if let value, !(0...Int64(Int32.max)).contains(value) {
                        local.add(field, "Must be an integer from 0 to \(Int32.max)")
                    }
                }
                for (field, messages) in local.byField {
                    for message in messages { issues.add("\(path).\(field)", message) }
                }
                if local.isEmpty, let fileName, let url, let size, let mime {
                    result.append(ScreenshotRef(
                        fileName: fileName, url: url, fileSize: size, mimeType: mime, width: width, height: height))
                }
            }
            return result
        default:
            issues.add("screenshots", "Expected an array")
            return []
        }
    }

    /// A pragmatic address check: one `@`, a non-empty local part, no spaces, and a domain of at least two
    /// dot-separated labels of letters, digits and hyphens (not at either end of a label). A domain can hold nothing
    /// else, and the inbox makes a `mailto:` link of the address: `a@b.com?bcc=x%40evil.example` passed before.
    public static func isValidEmail(_ email: String) -> Bool {
        isASCIIValidEmail(email.utf8) ?? isValidEmailByCharacters(email)
    }

    /// `isValidEmailByCharacters` for an all-ASCII address, byte by byte (each byte is one character there, CR LF
    /// aside, which is whitespace either way): the character walk was 7 % of a submission's request-handling CPU.
    /// Nil when the address is not all ASCII.
    static func isASCIIValidEmail(_ bytes: String.UTF8View) -> Bool? {
        var at: Int?
        var index = 0
        for byte in bytes {
            switch byte {
            case 0x80...: return nil
            // Controls (white space among them) and space.
            case 0x00...0x20, 0x7F: return false
            case UInt8(ascii: "@"):
                if at != nil { return false }
                at = index
            default: break
            }
            index += 1
        }
        guard index <= 254, let at, at > 0, at <= 64 else { return false }
        // The domain: dot-separated labels, at least two, none empty, none starting or ending with a hyphen.
        var dots = 0
        var lastOfLabel: UInt8?  // nil while the current label is empty
        for byte in bytes.dropFirst(at + 1) {
            if byte == UInt8(ascii: ".") {
                guard let last = lastOfLabel, last != UInt8(ascii: "-") else { return false }
                dots += 1
                lastOfLabel = nil
            } else {
                guard Self.isDomainByte(byte) else { return false }
                if lastOfLabel == nil && byte == UInt8(ascii: "-") { return false }
                lastOfLabel = byte
            }
        }
        guard let last = lastOfLabel, last != UInt8(ascii: "-") else { return false }
        return dots >= 1
    }

    /// A letter, digit or hyphen: what a domain's ASCII labels are made of.
    private static func isDomainByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"):
            true
        default: false
        }
    }

    /// The check by characters, for any address; an internationalised domain's labels may hold any letters, digits
    /// and combining marks, and the few joiners and punctuation IDNA allows in context (`col·legi.cat`, a Persian
    /// name's zero-width non-joiner).
    static func isValidEmailByCharacters(_ email: String) -> Bool {
        // Nothing invisible: white space, controls, and format characters outside those joiners (a zero-width space
        // or byte-order mark in an address would make it one no erasure by email finds).
        guard !email.exceedsLength(254),
            !email.unicodeScalars.contains(where: {
                $0.properties.isWhitespace || $0.properties.generalCategory == .control
                    || ($0.properties.generalCategory == .format && !idnaJoiners.contains($0))
            })
        else { return false }
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[0].exceedsLength(64),
            !parts[0].unicodeScalars.contains(where: idnaJoiners.contains)
        else { return false }
        let labels = parts[1].split(separator: ".", omittingEmptySubsequences: false)
        return labels.count >= 2
            && labels.allSatisfy { label in
                let scalars = Array(label.unicodeScalars)
                return !scalars.isEmpty && scalars.first != "-" && scalars.last != "-"
                    && scalars.indices.allSatisfy { index in
                        let scalar = scalars[index]
                        if scalar == "-" { return true }
                        if scalar.isASCII { return isDomainByte(UInt8(scalar.value)) }
                        if idnaJoiners.contains(scalar) || idnaPunctuation.contains(scalar) {
                            return isAllowedInContext(scalars, at: index)
                        }
                        return isDomainScalar(scalar)
                    }
            }
    }

    /// IDNA's context rules (RFC 5892, appendix A), for the joiners and punctuation it allows only beside certain
    /// letters; anywhere else they are invisible or look like another name (`exa\u{200D}mple.com`, `ex·ample.com`).
    private static func isAllowedInContext(_ label: [Unicode.Scalar], at index: Int) -> Bool {
        let before = index > 0 ? label[index - 1] : nil
        let after = index + 1 < label.count ? label[index + 1] : nil
        func isVirama(_ scalar: Unicode.Scalar?) -> Bool { scalar?.properties.canonicalCombiningClass.rawValue == 9 }
        func within(_ scalar: Unicode.Scalar?, _ ranges: [ClosedRange<UInt32>]) -> Bool {
            guard let value = scalar?.value else { return false }
            return ranges.contains { $0.contains(value) }
        }
        switch label[index] {
        case "\u{200C}": return isVirama(before) || (within(before, joiningScripts) && within(after, joiningScripts))
        case "\u{200D}": return isVirama(before)
        case "\u{B7}":  // Catalan middle dot, l·l in either case
            return (before == "l" || before == "L") && (after == "l" || after == "L")
        case "\u{375}": return within(after, greek)  // Greek keraia
        case "\u{5F3}", "\u{5F4}": return within(before, [0x0590...0x05FF])  // Hebrew geresh, gershayim
        default:  // katakana middle dot: with kana or han in the label
            return label.contains { within($0, kanaOrHan) }
        }
    }

    /// Scripts whose letters join (Arabic, Syriac, N'Ko, Mongolian), where a non-joiner may sit between letters.
    private static let joiningScripts: [ClosedRange<UInt32>] = [
        0x0620...0x06FF, 0x0700...0x074F, 0x0750...0x077F, 0x07C0...0x07FF, 0x0860...0x086F, 0x08A0...0x08FF,
        0x1800...0x18AF,
    ]
    private static let greek: [ClosedRange<UInt32>] = [0x0370...0x03FF, 0x1F00...0x1FFF]
    /// Hiragana, katakana (with its phonetic extensions) and han (its extensions, compatibility ideographs, 々).
    private static let kanaOrHan: [ClosedRange<UInt32>] = [
        0x3005...0x3007, 0x3040...0x30FA, 0x30FC...0x30FF, 0x31F0...0x31FF, 0x3400...0x4DBF, 0x4E00...0x9FFF,
        0xF900...0xFAFF, 0x20000...0x3134F,
    ]

    /// Zero-width non-joiner and joiner: IDNA allows them inside labels of scripts that need them.
    static let idnaJoiners: Set<Unicode.Scalar> = ["\u{200C}", "\u{200D}"]
    /// Punctuation IDNA allows inside labels: middle dot (Catalan), Greek keraia, Hebrew geresh and gershayim,
    /// katakana middle dot.
    static let idnaPunctuation: Set<Unicode.Scalar> = ["\u{B7}", "\u{375}", "\u{5F3}", "\u{5F4}", "\u{30FB}"]

    private static func isDomainScalar(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter, .decimalNumber,
            .nonspacingMark, .spacingMark, .enclosingMark:
            return true
        default: return false
        }
    }

    private static func nonEmpty(_ value: String?) -> String? {
        guard let value, !value.isEmpty else { return nil }
        return value
    }
}

/// Accumulates validation messages per field.
struct Issues {
    private(set) var byField: [String: [String]] = [:]
    var isEmpty: Bool { byField.isEmpty }

    mutating func add(_ field: String, _ message: String) {
        byField[field, default: []].append(message)
    }

    /// A string field; `null` counts as absent.
    mutating func string(_ fields: [String: JSONValue], _ name: String, required: Bool = false,
                         maxLength: Int? = nil, trimmed: Bool = false) -> String? {
        switch fields[name] {
        case nil, .null?:
            if required { add(name, "Required") }
            return nil
        case .string(let given)?:
            let value = trimmed ? given.trimmingSurroundingWhitespace : given
            // SQLite's C API ends text at NUL; refuse it rather than store a shortened value.
            if value.containsNUL {
                add(name, "Must not contain NUL characters")
                return nil
            }
            if let maxLength, value.exceedsLength(maxLength) {
                add(name, "Must be at most \(maxLength) characters")
                return nil
            }
            if required && value.isEmpty { add(name, "Required") }
            return value
        default:
            add(name, "Expected a string")
            return nil
        }
    }

    /// An integer field; `null` counts as absent.
    mutating func integer(_ fields: [String: JSONValue], _ name: String, required: Bool = false) -> Int64? {
        switch fields[name] {
        case nil, .null?:
            if required { add(name, "Required") }
            return nil
        case let value?:
            guard let int = value.integerValue else {
                add(name, "Expected an integer")
                return nil
            }
            return int
        }
    }
}
