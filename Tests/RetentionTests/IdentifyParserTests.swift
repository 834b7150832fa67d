import Feedback
import Foundation
import Testing

@testable import Retention

@Suite struct IdentifyParserTests {
    let parser = IdentifyParser()

    func issues(_ json: String) -> [String: [String]] {
        do {
            _ = try parser.parse(Array(json.utf8))
            return [:]
        } catch .invalid(let issues) {
            return issues
        } catch {
            return ["error": ["\(error)"]]
        }
    }

    @Test func acceptsAFullIdentification() throws {
        let parsed = try parser.parse(
            Array(
                #"""
                {"clientId":"client_a","userId":"u-1","email":"ada@example.com","name":"Ada",
                 "traits":{"plan":"pro","seats":3,"beta":true,"ratio":0.5,"churned":null}}
                """#.utf8))
        #expect(parsed.userId == "u-1")
        #expect(parsed.email == .set("ada@example.com"))
        #expect(parsed.name == .set("Ada"))
        #expect(
            parsed.traits
                == .set([
                    "plan": .string("pro"), "seats": .int(3), "beta": .bool(true),
                    "ratio": .double(0.5), "churned": .null,
                ]))
    }

    @Test func absentFieldsAreKeptAndNullClearsThem() throws {
        let parsed = try parser.parse(Array(#"{"clientId":"c","userId":"u","email":null}"#.utf8))
        #expect(parsed.email == .clear)
        #expect(parsed.name == .keep)
        #expect(parsed.traits == .keep)
    }

    @Test func userIdIsRequiredAndAtMost128Characters() {
        #expect(issues(#"{"clientId":"c"}"#)["userId"] == ["Required"])
        #expect(issues(#"{"clientId":"c","userId":""}"#)["userId"] == ["Must be 1 to 128 characters"])
        #expect(issues(#"{"clientId":"c","userId":"\#(String(repeating: "x", count: 129))"}"#)["userId"] != nil)
        #expect(issues(#"{"clientId":"c","userId":"\#(String(repeating: "x", count: 128))"}"#).isEmpty)
        // One letter with combining marks is as many characters as it has scalars.
        let marks = String(repeating: "\u{301}", count: 2_000)
        #expect(issues(#"{"clientId":"c","userId":"u\#(marks)"}"#)["userId"] != nil)
        #expect(issues(#"{"clientId":"c","userId":"u","name":"n\#(marks)"}"#)["name"] != nil)
        #expect(issues(#"{"clientId":"c","userId":"u","email":"a\#(marks)@b.example"}"#)["email"] != nil)
        #expect(issues(#"{"clientId":"c","userId":42}"#)["userId"] == ["Expected a string"])
    }

    @Test func traitsAllowAtMost20Keys() {
        let twenty = (1...20).map { #""k\#($0)":1"# }.joined(separator: ",")
        let twentyOne = (1...21).map { #""k\#($0)":1"# }.joined(separator: ",")
        #expect(issues(#"{"clientId":"c","userId":"u","traits":{\#(twenty)}}"#).isEmpty)
        #expect(issues(#"{"clientId":"c","userId":"u","traits":{\#(twentyOne)}}"#)["traits"] == ["At most 20 keys"])
    }

    @Test func traitsAllowAtMost2KBSerialized() {
        let fits = String(repeating: "x", count: 2000)
        let tooBig = String(repeating: "x", count: 2100)
        #expect(issues(#"{"clientId":"c","userId":"u","traits":{"bio":"\#(fits)"}}"#).isEmpty)
        #expect(
            issues(#"{"clientId":"c","userId":"u","traits":{"bio":"\#(tooBig)"}}"#)["traits"]
                == ["Must be at most 2048 bytes (2 KB) as JSON"])
    }

    @Test func traitsMustBeAFlatObject() {
        #expect(issues(#"{"clientId":"c","userId":"u","traits":{"org":{"id":1}}}"#)["traits.org"] != nil)
        #expect(issues(#"{"clientId":"c","userId":"u","traits":{"tags":["a"]}}"#)["traits.tags"] != nil)
        #expect(issues(#"{"clientId":"c","userId":"u","traits":["a"]}"#)["traits"] == ["Expected an object"])
    }

    @Test func rejectsBadEmailsUnknownFieldsAndNonJSON() {
        #expect(issues(#"{"clientId":"c","userId":"u","email":"nope"}"#)["email"] == ["Invalid email address"])
        #expect(issues(#"{"clientId":"c","userId":"u","ip":"1.2.3.4"}"#)["ip"] == ["Unknown field"])
        #expect(throws: FeedbackError.malformedJSON) { try parser.parse(Array("{".utf8)) }
    }
}

extension IdentifyParserTests {
    /// An empty `email` means absent, as `userEmail` on feedback does: it keeps the stored address (only `null`
    /// clears it).
    @Test func anEmptyEmailKeepsTheStoredOne() throws {
        let parsed = try parser.parse(Array(#"{"clientId":"c","userId":"u","email":""}"#.utf8))
        #expect(parsed.email == .keep)
    }
}

extension IdentifyParserTests {
    /// The client id loses the white space around it, as on feedback and uploads: `" client_a "` is `client_a`, not
    /// an unknown client.
    @Test func theClientIdIsTrimmedAsOnFeedback() throws {
        let parsed = try parser.parse(Array(#"{"clientId":" client_a\n","userId":"u"}"#.utf8))
        #expect(parsed.clientId == "client_a")
    }
}
