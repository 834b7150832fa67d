import Feedback
import Foundation
import Logging
import Testing
import UseroTestSupport

@testable import SlackGateway

/// The one-pass peek that lets `/slack/events` drop message events without decoding them: it must never call a body
/// well-formed that a JSON parser refuses, and never disagree with one about the two strings it reads.
@Suite struct EventPeekTests {
    static let message = #"""
        {"token":"vErIfIcAtIoNtOkEnXyZ0001","team_id":"T0001","api_app_id":"A0001","event":{"type":"message","channel":"C0001","user":"U0002","text":"Export to CSV times out \u2013 \"again\" \\ é 😀","ts":"1700000000.000100","blocks":[{"type":"rich_text","elements":[]}],"n":-1.5e+3,"z":0,"t":true,"f":false,"x":null,"e":{}},"type":"event_callback","event_id":"Ev0002","event_time":1700000000,"authorizations":[{"enterprise_id":null,"team_id":"T0001","is_bot":true}],"is_ext_shared_channel":false}
        """#

    static func peek(_ text: String) -> EventPeek? { EventPeek(Array(text.utf8)) }

    @Test func readsTheEnvelopeTypeAndTheEventType() {
        #expect(Self.peek(Self.message) == EventPeek(type: "event_callback", eventType: "message", workspace: "T0001"))
        #expect(Self.peek(#" { "type" : "url_verification" , "challenge" : "abc" } "#)
            == EventPeek(type: "url_verification", eventType: nil))
        #expect(Self.peek(#"{"type":"app_rate_limited","minute_rate_limited":1518467820}"#)
            == EventPeek(type: "app_rate_limited", eventType: nil))
        #expect(Self.peek(#"{"event":{"item":{"type":"message"},"type":"reaction_added"},"type":"event_callback"}"#)
            == EventPeek(type: "event_callback", eventType: "reaction_added"))
        #expect(Self.peek(#"{"type":"event_callback","event":{"type":7}}"#)
            == EventPeek(type: "event_callback", eventType: nil))
    }

    /// The workspace as `EventEnvelope.workspace` reads it: the first authorization's team, else the envelope's.
    @Test func readsTheWorkspaceAsTheEnvelopeDoes() throws {
        for text in [
            #"{"type":"event_callback","team_id":"T1","event":{"type":"message"}}"#,
            #"{"type":"event_callback","team_id":"T1","authorizations":[{"team_id":"T2"},{"team_id":"T3"}],"event":{"type":"message"}}"#,
            #"{"authorizations":[{"is_bot":true,"team_id":null}],"team_id":"T1","type":"event_callback","event":{"type":"message"}}"#,
            #"{"type":"event_callback","team_id":null,"authorizations":null,"event":{"type":"message"}}"#,
            #"{"type":"event_callback","authorizations":[],"event":{"type":"message"}}"#,
            #"{"type":"event_callback","event":{"type":"message","team_id":"T9"}}"#,
        ] {
            let envelope = try JSONDecoder().decode(EventEnvelope.self, from: Data(text.utf8))
            #expect(Self.peek(text)?.workspace == envelope.workspace, "\(text)")
        }
        #expect(Self.peek(#"{"type":"event_callback","team_id":"T1","authorizations":[{"team_id":"T2"}]}"#)?.workspace == "T2")
        #expect(Self.peek(#"{"type":"event_callback","team_id":"T1"}"#)?.workspace == "T1")
    }

    /// A `team_id` or `authorizations` the decoder refuses leaves the peek unsure, so the full path answers (400);
    /// so does one it would accept but the peek does not read (an escape, a repeated key).
    @Test func isUnsureOfAWorkspaceTheDecoderRefuses() {
        for text in [
            #"{"type":"event_callback","team_id":5}"#, #"{"type":"event_callback","authorizations":{}}"#,
            #"{"type":"event_callback","authorizations":[1]}"#,
            #"{"type":"event_callback","authorizations":[{"team_id":[]}]}"#,
        ] {
            #expect(Self.peek(text) == nil, "\(text)")
            #expect(throws: (any Error).self) { try JSONDecoder().decode(EventEnvelope.self, from: Data(text.utf8)) }
        }
        for text in [
            #"{"type":"event_callback","team_id":"T\u0031"}"#, #"{"type":"event_callback","team_id":"T1","team_id":"T2"}"#,
            #"{"type":"event_callback","authorizations":[{"team_id":"T1","team_id":"T2"}]}"#,
            #"{"type":"event_callback","authorizations":[],"authorizations":[]}"#,
        ] {
            #expect(Self.peek(text) == nil, "\(text)")
        }
    }

    @Test func isUnsureOfAnythingOdd() {
        for text in [
            "", "   ", "[]", #""type""#, "{", #"{"type":"event_callback""#, #"{"type":"a"}x"#, #"{"type":"a",}"#,
            #"{"type":1}"#, #"{"type":"event_\u0063allback"}"#, #"{"type":"a","type":"b"}"#,
            #"{"type":"a","event":{"type":"message"},"event":{}}"#, #"{"type":"a","event":{"type":"x","type":"y"}}"#,
            #"{"type":"a","n":01}"#, #"{"type":"a","n":1.}"#, #"{"type":"a","n":-}"#, #"{"type":"a","n":1e}"#,
            #"{"type":"a","s":"\x"}"#, #"{"type":"a","s":"\u12"}"#, "{\"type\":\"a\",\"s\":\"\u{01}\"}",
            #"{"type":"a","v":tru}"#, #"{"type":"a","v":nul}"#, #"{"type":"a" "b":1}"#, #"{"type":"a",1:2}"#,
            #"{"type":"a","l":[1,]}"#, #"{"type":"a","l":[1 2]}"#, #"{'type':'a'}"#,
            #"{"type":"a","deep":"# + String(repeating: "[", count: 100) + String(repeating: "]", count: 100) + "}",
        ] {
            #expect(Self.peek(text) == nil, "\(text.prefix(60))")
        }
        // Not UTF-8: a lone continuation byte, an overlong slash, a surrogate
        for bad: [UInt8] in [[0x80], [0xC0, 0xAF], [0xED, 0xA0, 0x80]] {
            let body = Array(#"{"type":"a","s":""#.utf8) + bad + Array(#""}"#.utf8)
            #expect(EventPeek(body) == nil)
        }
    }

    /// Every prefix of a real body and every single-byte change of it: when the peek answers, JSONSerialization
    /// accepts the same bytes and reads the same two strings.
    @Test func neverAcceptsWhatAJSONParserRefuses() throws {
        let body = Array(Self.message.utf8)
        var variants: [[UInt8]] = (0...body.count).map { Array(body.prefix($0)) }
        for index in stride(from: 0, to: body.count, by: 3) {
            for replacement: UInt8 in [UInt8(ascii: "\""), UInt8(ascii: "}"), UInt8(ascii: ","), 0x00, 0xFF, 0x20] {
                var changed = body
                changed[index] = replacement
                variants.append(changed)
            }
        }
        var answered = 0
        for variant in variants {
            guard let peek = EventPeek(variant) else { continue }
            answered += 1
            let parsed = try JSONSerialization.jsonObject(with: Data(variant)) as? [String: Any]
            #expect(parsed?["type"] as? String == peek.type)
            #expect((parsed?["event"] as? [String: Any])?["type"] as? String == peek.eventType)
            let authorization = (parsed?["authorizations"] as? [[String: Any]])?.first?["team_id"] as? String
            #expect(authorization ?? parsed?["team_id"] as? String == peek.workspace)
        }
        #expect(answered > 0)
    }

    /// At debug and trace every delivery takes the full path (its log line names the team), where `user_change` and
    /// `team_join`, whose `user` is an object, were refused with a 400: Slack retries that, and disables a
    /// subscription that keeps failing. At every level they are acknowledged and dropped, as is a handled event
    /// whose field has the wrong shape.
    @Test(arguments: [Logger.Level.trace, .debug, .info])
    func eventsOfOtherShapesAreAcknowledgedAtEveryLogLevel(_ level: Logger.Level) async throws {
        let world = try await SlackWorld()
        var logger = Logger(label: "test")
        logger.logLevel = level
        let ingest = SlackIngest(store: world.store, clock: world.clock, wakeup: world.wakeup, logger: logger)
        for inner in [#"{"type":"user_change","user":{"id":"U0099","name":"x"}}"#,
                      #"{"type":"team_join","user":{"id":"U0098"}}"#,
                      #"{"type":"reaction_added","user":{"id":"U0001"},"reaction":"wrench","item":{"type":"message","channel":"C0001","ts":"1.2"}}"#,
                      #"{"type":"reaction_added","user":"U0001","reaction":"wrench","item":"C0001"}"#] {
            let body = #"{"type":"event_callback","team_id":"T0001","event_id":"Ev7001","event":\#(inner)}"#
            #expect(try await ingest.receiveEvent(Array(body.utf8)) == .acknowledged, "\(inner)")
        }
        #expect(world.jobs.isEmpty)
    }

    @Test func ignoredEventsAreDroppedAtInfoWithNothingQueued() async throws {
        let world = try await SlackWorld()
        var logger = Logger(label: "test")
        logger.logLevel = .info
        let ingest = SlackIngest(store: world.store, clock: world.clock, wakeup: world.wakeup, logger: logger)
        #expect(try await ingest.receiveEvent(Array(Self.message.utf8)) == .acknowledged)
        #expect(try await ingest.receiveEvent(Array(#"{"type":"url_verification","challenge":"c1"}"#.utf8))
            == .challenge("c1"))
        await #expect(throws: SlackGatewayError.malformedPayload) {
            _ = try await ingest.receiveEvent(Array(#"{"type":"event_callback","event":{"type":"message"}"#.utf8))
        }
        #expect(world.jobs.isEmpty)
        #expect(world.seenEvents.isEmpty)
        // Dropped unread, it still counts as an event seen from T0001: recovery starts from there.
        #expect(world.store.withState { $0.installations[SlackWorld.team]?.lastEventAt } == world.nowMillis)
    }
}
