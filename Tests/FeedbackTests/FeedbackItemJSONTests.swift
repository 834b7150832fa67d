import Foundation
import Testing

@testable import Feedback

/// The admin API writes items without JSONEncoder (`FeedbackItem.jsonText`); what a client reads must not change.
@Suite struct FeedbackItemJSONTests {
    static let t0 = Date(timeIntervalSince1970: 1_700_000_000.25)

    /// Items with every field absent, every field present, awkward strings, numbers at their limits, a scrubbed and
    /// a recovered Slack capture, screenshots with and without dimensions, nested metadata.
    static let items: [FeedbackItem] = {
        let shots = [
            ScreenshotRef(
                fileName: "c/1.png", url: "https://h/api/screenshots/c/1.png", fileSize: 10_485_760,
                mimeType: "image/png", width: 1920, height: 1080),
            ScreenshotRef(fileName: "c/2.webp", url: "/s/2", fileSize: 1, mimeType: "image/webp", width: nil, height: nil),
        ]
        let awkward = "quote \" backslash \\ slash / tab \t newline \n nul \u{0} unit \u{1F} é 日本 🎉"
        let metadata = JSONValue.object([
            "appVersion": .string("2.4.1"), "build": .int(Int64.max), "ratio": .double(0.1), "flags": .array([
                .bool(true), .null, .object(["deep": .string(awkward)]),
            ]),
        ])
        return [
            FeedbackItem(id: "fb_1", clientId: "c", createdAt: t0, draft: FeedbackDraft(clientId: "c", source: .api)),
            FeedbackItem(
                id: "fb_2", clientId: "c", createdAt: t0.addingTimeInterval(1),
                draft: FeedbackDraft(
                    clientId: "c", source: .widget, rating: 5, comment: awkward, userEmail: "jamie@example.com",
                    pageUrl: "https://yourapp.com/projects/42/export?a=1&b=</script>", pageTitle: awkward,
                    referrer: "", environment: "staging", metadata: metadata, screenshots: shots,
                    sessionReplayId: "replay-1", replayOffsetMs: Int64.min, userId: "user-7")),
            FeedbackItem(
                id: "fb_3", clientId: "c", createdAt: t0.addingTimeInterval(2),
                draft: FeedbackDraft(
                    clientId: "c", source: .slack, rating: 1, comment: "From Slack", metadata: .string("just text"),
                    slack: SlackCapture(
                        teamId: "T1", channelId: "C1", messageTs: "1700000000.000100", threadTs: nil, authorId: nil,
                        forwardedBy: nil, capturedVia: .reaction("pushpin"), permalink: nil, recovered: true))),
            FeedbackItem(
                id: "fb_4", clientId: "c", createdAt: t0.addingTimeInterval(3),
                draft: FeedbackDraft(
                    clientId: "c", source: .slack, comment: "Shortcut", metadata: .array([]),
                    slack: SlackCapture(
                        teamId: "T1", channelId: "C2", messageTs: "1.2", threadTs: "1.1", authorId: "U1",
                        forwardedBy: "U2", capturedVia: .shortcut, permalink: "https://x.slack.com/archives/C2/p12"))),
        ]
    }()

    static func encoded(_ value: some Encodable) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return try encoder.encode(value)
    }

    static func parsed(_ data: Data) throws -> NSObject {
        try #require(try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) as? NSObject)
    }

    @Test(arguments: items)
    func anItemReadsTheSameAsThroughJSONEncoder(_ item: FeedbackItem) throws {
        let written = Data(item.jsonText.utf8)
        #expect(try Self.parsed(written) == Self.parsed(try Self.encoded(item)))
    }

    /// Members in the contract's order (docs/contract.md's item), every time. JSONEncoder on Linux writes a keyed
    /// container's members in hash order, which changed from response to response; the contract shows this one.
    @Test func membersComeInTheContractsOrder() {
        #expect(
            Self.items[3].jsonText == """
                {"id":"fb_4","source":"slack","createdAt":"2023-11-14T22:13:23.250Z","rating":null,\
                "comment":"Shortcut","userEmail":null,"pageUrl":null,"pageTitle":null,"referrer":null,\
                "environment":null,"metadata":[],"screenshots":[],"sessionReplayId":null,"replayOffsetMs":null,\
                "userId":null,"slack":{"teamId":"T1","channelId":"C2","messageTs":"1.2","threadTs":"1.1",\
                "authorId":"U1","forwardedBy":"U2","capturedVia":"shortcut",\
                "permalink":"https://x.slack.com/archives/C2/p12","recovered":false},"recovered":false}
                """)
    }

    @Test func aPageReadsTheSameAsThroughJSONEncoder() throws {
        for page in [
            ItemList(items: Self.items, nextCursor: "MTcwMDAwMDAwMzAwMDpmYl80"), ItemList(items: [], nextCursor: nil),
        ] {
            let expected: NSDictionary = [
                "items": try page.items.map { try Self.parsed(try Self.encoded($0)) },
                "nextCursor": page.nextCursor.map { $0 as NSString } ?? NSNull(),
            ]
            #expect(try Self.parsed(Data(page.jsonText.utf8)) == expected)
        }
        #expect(ItemList(items: [], nextCursor: nil).jsonText == #"{"items":[],"nextCursor":null}"#)
    }
}
