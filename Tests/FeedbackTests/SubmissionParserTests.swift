@testable import Feedback
import Testing

@Suite struct SubmissionParserTests {
    let parser = SubmissionParser()
    let context = SubmissionParser.Context(isWidget: false, referer: nil)

    func parse(_ json: String, context: SubmissionParser.Context? = nil) throws(FeedbackError) -> FeedbackDraft {
        try parser.parse(Array(json.utf8), context: context ?? self.context)
    }

    @Test func ratingAloneOrCommentAloneIsEnough() throws {
        #expect(try parse(#"{"clientId":"client_a","rating":1}"#).rating == 1)
        #expect(try parse(#"{"clientId":"client_a","comment":"hi"}"#).comment == "hi")
    }

    /// Spaces, tabs, line breaks and the wide Unicode spaces are no comment; any other character is one.
    @Test(arguments: [" ", "\\n\\t \\r", "\\u00a0\\u2003\\u3000\\u2028\\u0085"])
    func aBlankCommentWithoutARatingIsRefused(_ blank: String) {
        #expect {
            _ = try parse(#"{"clientId":"client_a","comment":"\#(blank)"}"#)
        } throws: { error in
            guard case FeedbackError.invalid(let issues) = error else { return false }
            return issues["rating"] == ["Either a rating (1 to 4) or a non-empty comment is required"]
        }
    }

    /// The documented maximum is ten screenshots a submission: ten pass, eleven are refused naming the field.
    @Test func tenScreenshotsPassAndElevenAreRefused() throws {
        func body(_ count: Int) -> String {
            let shot = #"{"fileName":"client_a/1-x.png","url":"https://x.example/a.png","fileSize":1,"mimeType":"image/png"}"#
            return #"{"clientId":"client_a","rating":3,"screenshots":["# + Array(repeating: shot, count: count).joined(separator: ",") + "]}"
        }
        #expect(try parse(body(10)).screenshots.count == 10)
        #expect(throws: FeedbackError.invalid(issues: ["screenshots": ["At most 10 screenshots"]])) { try parse(body(11)) }
    }

    /// The client id loses the white space around it (Unicode's, as an upload's field does), and nothing else.
    @Test func theClientIdIsTrimmedOfSurroundingWhiteSpaceOnly() throws {
        #expect(try parse(#"{"clientId":" client_a\n","rating":1}"#).clientId == "client_a")
        #expect(try parse(#"{"clientId":"\u00a0\u3000client_a\t","rating":1}"#).clientId == "client_a")
        #expect(try parse(#"{"clientId":"client a","rating":1}"#).clientId == "client a")
        #expect(throws: FeedbackError.invalid(issues: ["clientId": ["Required"]])) {
            try parse(#"{"clientId":" \u2003\n","rating":1}"#)
        }
        #expect("\u{A0}x y\u{2028}".trimmingSurroundingWhitespace == "x y")
        #expect("xy".trimmingSurroundingWhitespace == "xy")
        #expect(" \n".trimmingSurroundingWhitespace == "")
        #expect("".trimmingSurroundingWhitespace == "")
    }

    @Test func aCommentOfOneVisibleCharacterIsEnough() throws {
        #expect(try parse(#"{"clientId":"client_a","comment":" \u200b "}"#).comment == " \u{200B} ")
        #expect(try parse(#"{"clientId":"client_a","comment":"\n.\n"}"#).comment == "\n.\n")
    }

    /// Lengths count characters: a 128-character id of multi-byte characters is within the limit, 129 is not.
    @Test func lengthLimitsCountCharactersNotBytes() throws {
        let accented = String(repeating: "é", count: 128)
        #expect(try parse(#"{"clientId":"client_a","rating":1,"userId":"\#(accented)"}"#).userId == accented)
        #expect(throws: FeedbackError.self) {
            try parse(#"{"clientId":"client_a","rating":1,"userId":"\#(accented)é"}"#)
        }
    }

    /// A character is a Unicode scalar: one letter with a thousand combining marks is a thousand and one, not one
    /// grapheme cluster, or a 128-character field could carry megabytes.
    @Test(arguments: ["clientId", "userId", "environment", "sessionReplayId", "userEmail", "pageUrl"])
    func combiningMarksCountAsCharacters(_ field: String) {
        let marks = String(repeating: "\u{301}", count: 9_000)
        let value = field == "userEmail" ? "a\(marks)@b.example" : "e\(marks)"
        let clientId = field == "clientId" ? value : "client_a"
        let extra = field == "clientId" ? "" : #","\#(field)":"\#(value)""#
        #expect {
            _ = try parse(#"{"clientId":"\#(clientId)","rating":1\#(extra)}"#)
        } throws: { error in
            guard case FeedbackError.invalid(let issues) = error else { return false }
            return issues[field] != nil
        }
    }

    /// The `Referer` stands in for `pageUrl` only within its limit: a longer one is left out, and the feedback is
    /// taken (the browser sent it, not the caller).
    @Test func aRefererOverTheLimitIsLeftOut() throws {
        let long = SubmissionParser.Context(isWidget: true, referer: "https://a.example/" + String(repeating: "a", count: 8_200))
        let draft = try parse(#"{"clientId":"client_a","rating":2}"#, context: long)
        #expect(draft.pageUrl == nil)
        #expect(draft.rating == 2)
        let fits = "https://a.example/" + String(repeating: "a", count: 8_000)
        #expect(try parse(#"{"clientId":"client_a","rating":2}"#, context: .init(isWidget: true, referer: fits)).pageUrl == fits)
    }

    @Test func aWholeNumberWrittenAsAFloatCountsAsAnInteger() throws {
        #expect(try parse(#"{"clientId":"client_a","rating":3.0}"#).rating == 3)
    }

    @Test func nullMeansAbsent() throws {
        let draft = try parse(#"{"clientId":"client_a","rating":2,"comment":null,"metadata":null,"environment":null}"#)
        #expect(draft.comment == nil)
        #expect(draft.metadata == nil)
        #expect(draft.environment == nil)
    }

    @Test func emptyEnvironmentAndEmailAreAbsent() throws {
        let draft = try parse(#"{"clientId":"client_a","rating":2,"environment":"","userEmail":""}"#)
        #expect(draft.environment == nil)
        #expect(draft.userEmail == nil)
    }

    @Test func refererFillsPageUrlOnlyWhenItIsMissing() throws {
        let withReferer = SubmissionParser.Context(isWidget: true, referer: "https://a.example/x")
        #expect(try parse(#"{"clientId":"client_a","rating":2}"#, context: withReferer).pageUrl == "https://a.example/x")
        #expect(try parse(#"{"clientId":"client_a","rating":2,"pageUrl":"https://b.example"}"#, context: withReferer).pageUrl
            == "https://b.example")
        #expect(try parse(#"{"clientId":"client_a","rating":2}"#, context: withReferer).source == .widget)
        // Empty is absent, as for `userEmail`: the Referer stands in; without one, nothing is stored.
        #expect(try parse(#"{"clientId":"client_a","rating":2,"pageUrl":""}"#, context: withReferer).pageUrl
            == "https://a.example/x")
        #expect(try parse(#"{"clientId":"client_a","rating":2,"pageUrl":""}"#).pageUrl == nil)
        // Empty title and referrer are absent too, as empty email and environment are.
        let empty = try parse(#"{"clientId":"client_a","rating":2,"pageTitle":"","referrer":""}"#)
        #expect(empty.pageTitle == nil && empty.referrer == nil)
    }

    @Test func aBlankEnvironmentIsTheDefaultOne() throws {
        // JSON escapes: a tab, a no-break space and a newline are blank too.
        for blank in ["", " ", "  \\t", "\\u00a0\\n"] {
            #expect(try parse(#"{"clientId":"client_a","rating":2,"environment":"\#(blank)"}"#).environment == nil)
        }
        #expect(try parse(#"{"clientId":"client_a","rating":2,"environment":" staging "}"#).environment == "staging")
    }

    /// Nested deeper than common JSON readers take, one submission made the admin list unreadable to them (found by
    /// a review: 257 levels passed, and jq refused every page holding it).
    @Test func metadataNestedThirtyTwoLevelsPassesAndDeeperFails() throws {
        func nested(_ depth: Int) -> String {
            String(repeating: #"{"a":"#, count: depth - 1) + "{}" + String(repeating: "}", count: depth - 1)
        }
        #expect(try parse(#"{"clientId":"client_a","rating":2,"metadata":\#(nested(64))}"#).metadata?.nestingDepth == 64)
        #expect(throws: FeedbackError.invalid(issues: ["metadata": ["Must be nested at most 64 levels deep"]])) {
            try parse(#"{"clientId":"client_a","rating":2,"metadata":\#(nested(65))}"#)
        }
        #expect(throws: FeedbackError.invalid(issues: ["metadata": ["Must be nested at most 64 levels deep"]])) {
            try parse(#"{"clientId":"client_a","rating":2,"metadata":{"list":[[[\#(nested(63))]]]}}"#)
        }
    }

    /// A form sends a line feed back as CR LF, so a name with one could be listed but never picked in the inbox.
    @Test(arguments: [#"line\nbreak"#, #"tab\tbed"#, #"unit\u001fseparator"#, #"c1\u0085inside"#])
    func anEnvironmentWithAControlCharacterIsRefused(name: String) {
        #expect(throws: FeedbackError.invalid(issues: ["environment": ["Must not contain control characters (line breaks, tabs)"]])) {
            try parse(#"{"clientId":"client_a","rating":2,"environment":"\#(name)"}"#)
        }
    }

    /// The white space around a name is not part of it: " staging " was an environment of its own beside "staging",
    /// and a name read from a config file with its line end was refused (the widget trims it).
    @Test(arguments: [#" staging "#, #"staging\r\n"#, #"\tstaging\n"#, #"staging\u00a0"#])
    func anEnvironmentIsStoredWithoutTheWhiteSpaceAroundIt(name: String) throws {
        #expect(try parse(#"{"clientId":"client_a","rating":2,"environment":"\#(name)"}"#).environment == "staging")
    }

    @Test func metadataJustUnder10KBPassesAndJustOverFails() throws {
        // {"k":"…"} is 8 bytes of framing.
        let fits = String(repeating: "x", count: SubmissionParser.maxMetadataBytes - 8)
        #expect(try parse(#"{"clientId":"client_a","rating":2,"metadata":{"k":"\#(fits)"}}"#).metadata != nil)
        #expect(throws: FeedbackError.metadataTooLarge) {
            try parse(#"{"clientId":"client_a","rating":2,"metadata":{"k":"\#(fits)x"}}"#)
        }
    }

    @Test(arguments: [
        "a@b.co", "jamie@example.com", "first.last+tag@sub.example.org", "o'brien@x-y.example", "jamie@bücher.example",
        "a@xn--bcher-kva.example", "ï@日本.example", "x@col·legi.cat", "x@اب\u{200C}ت.example",
        "x@क्\u{200D}ष.example", "x@カ・キ.example", "A@COL·LEGI.CAT", "x@\u{375}\u{1F00}.gr", "x@㐀・㐁.example",
        "x@々・々.example", "x@ܐ\u{200C}ܒ.example",
    ])
    func acceptsOrdinaryEmails(email: String) {
        #expect(SubmissionParser.isValidEmail(email))
    }

    @Test(arguments: [
        "plain", "@example.com", "a@", "a@b", "a b@example.com", "a@@example.com", "a@example..com",
        // Nothing but letters, digits and hyphens in a domain: the inbox links the address with `mailto:`.
        "support@yourapp.com?bcc=attacker%40evil.example&subject=Re", "a@b_c.example", "a@b.example/x", "a@b:25.example",
        "a@bü?.example", "a@b.exam\u{200B}ple", "bob@example.com\u{200B}", "\u{FEFF}bob@example.com", "b\u{1}ob@example.com",
        "bob\u{85}@example.com", "b\u{200C}ob@example.com",
        // Joiners and punctuation outside the places IDNA allows them: invisible, or another name's look-alike.
        "a@exa\u{200D}mple.com", "a@exa\u{200C}mple.com", "a@ex·ample.com", "a@\u{200C}.com", "a@b\u{375}c.com",
    ])
    func rejectsMalformedEmails(email: String) {
        #expect(!SubmissionParser.isValidEmail(email))
    }

    /// The byte-wise check of ASCII addresses answers as the character-wise one: every ASCII byte in every position
    /// of a few shapes, hyphens and dots at label edges, the length limits, and random ASCII strings.
    @Test func theASCIICheckAgreesWithTheCharacterCheck() {
        var samples = [
            "a@b.co", "-a@b.co", "a@-b.co", "a@b-.co", "a@b.-co", "a@b.co-", "a@.b.co", "a@b.co.", "a.@b.co",
            "a@b..co", "a@b", "@b.co", "a@", "", "@", ".", "a@b.c-d.e", "a\r\n@b.co", "a@b.co\r\n",
            String(repeating: "a", count: 64) + "@b.co", String(repeating: "a", count: 65) + "@b.co",
            "a@" + String(repeating: "b", count: 249) + ".co", "a@" + String(repeating: "b", count: 250) + ".co",
        ]
        for byte in UInt8(0)..<0x80 {
            let c = String(UnicodeScalar(byte))
            samples += [c, "a\(c)@b.co", "a@b\(c).co", "a@b.\(c)", "\(c)@b.co", "a@\(c).co", "a@b.co\(c)"]
        }
        var random = SystemRandomNumberGenerator()
        let alphabet = Array("ab-.@ \t\u{B}\u{1C}x")
        for _ in 0..<2000 {
            samples.append(String((0..<Int.random(in: 0...12, using: &random)).map { _ in alphabet.randomElement()! }))
        }
        for sample in samples {
            #expect(
                SubmissionParser.isASCIIValidEmail(sample.utf8) == SubmissionParser.isValidEmailByCharacters(sample),
                "\(sample.debugDescription)")
        }
        #expect(SubmissionParser.isASCIIValidEmail("é@b.co".utf8) == nil)
        #expect(SubmissionParser.isValidEmail("é@exämple.co"))
    }

    @Test func everyProblemIsReportedAtOnce() {
        #expect {
            try parse(#"{"clientId":"client_a","rating":9,"userEmail":"nope","extra":1}"#)
        } throws: { error in
            guard case .invalid(let issues) = error as? FeedbackError else { return false }
            return Set(issues.keys) == ["rating", "userEmail", "extra"]
        }
    }

    @Test func commentOf50000CharactersPassesAndOneMoreIsRefusedNamingComment() throws {
        let fits = String(repeating: "é", count: SubmissionParser.maxCommentCharacters)
        #expect(try parse(#"{"clientId":"client_a","comment":"\#(fits)"}"#).comment?.unicodeScalars.count == 50_000)
        #expect {
            try parse(#"{"clientId":"client_a","rating":2,"comment":"\#(fits)x"}"#)
        } throws: { error in
            guard case .invalid(let issues) = error as? FeedbackError else { return false }
            return Array(issues.keys) == ["comment"]
        }
    }

    /// `replayOffsetMs` is a non-negative offset: 0, the replay's first moment, is one.
    @Test func aReplayOffsetOfZeroIsTheStartOfTheReplay() throws {
        let draft = try parse(#"{"clientId":"client_a","rating":3,"sessionReplayId":"r1","replayOffsetMs":0}"#)
        #expect(draft.replayOffsetMs == 0)
    }

    /// `userId` is 1 to 128 characters, as on `/api/identify`: an empty one links the item to no one and is refused.
    @Test func anEmptyUserIdIsRefusedNamingUserId() {
        #expect(throws: FeedbackError.invalid(issues: ["userId": ["Must be 1 to 128 characters"]])) {
            try parse(#"{"clientId":"client_a","rating":3,"userId":""}"#)
        }
    }

    /// A screenshot object is what an upload can be: no negative size, an image type, and only the fields the
    /// upload's answer has (a misspelt one is named, not dropped).
    @Test(arguments: [("fileSize", "-1"), ("mimeType", #""text/html""#), ("size", "5")])
    func aScreenshotObjectNoUploadCouldBeIsRefusedNamingItsField(field: String, value: String) {
        var fields = [
            ("fileName", #""client_a/1-x.png""#), ("url", #""https://x.example/a.png""#), ("fileSize", "1"),
            ("mimeType", #""image/png""#),
        ]
        fields.removeAll { $0.0 == field }
        fields.append((field, value))
        let shot = "{" + fields.map { #""\#($0.0)":\#($0.1)"# }.joined(separator: ",") + "}"
        #expect {
            try parse(#"{"clientId":"client_a","rating":3,"screenshots":["# + shot + "]}")
        } throws: { error in
            guard case .invalid(let issues) = error as? FeedbackError else { return false }
            return Array(issues.keys) == ["screenshots.0.\(field)"]
        }
    }

    /// The rating-or-comment rule speaks only when the fields are otherwise fine: a comment refused for its length
    /// names `comment`, not also a missing rating the client never meant to send.
    @Test func aCommentRefusedForItsLengthIsTheOnlyFieldNamed() {
        let long = String(repeating: "x", count: SubmissionParser.maxCommentCharacters + 1)
        #expect {
            try parse(#"{"clientId":"client_a","comment":"\#(long)"}"#)
        } throws: { error in
            guard case .invalid(let issues) = error as? FeedbackError else { return false }
            return Array(issues.keys) == ["comment"]
        }
    }

    @Test func combiningMarksCountTowardTheCommentLimit() {
        // One grapheme cluster with 60,000 combining accents: one "Character" to Swift, 60,001 scalars.
        let cluster = "e" + String(repeating: "\u{301}", count: 60_000)
        #expect(cluster.count == 1)
        #expect {
            try parse(#"{"clientId":"client_a","comment":"\#(cluster)"}"#)
        } throws: { error in
            guard case .invalid(let issues) = error as? FeedbackError else { return false }
            return issues["comment"] != nil
        }
    }
}
