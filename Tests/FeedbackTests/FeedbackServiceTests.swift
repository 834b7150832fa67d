import Feedback
import Foundation
import Testing
import UseroTestSupport

/// The feedback API's rules on the in-memory store: no files, no sockets, a clock set by hand.
@Suite struct FeedbackServiceTests {
    static let now = Date(timeIntervalSince1970: 1_700_000_000.123)

    let store = InMemoryStore()
    let clock = TestClock(FeedbackServiceTests.now)
    var service: FeedbackService { FeedbackService(store: store, clock: clock, publicURL: "https://usero.test/") }

    func client(origins: [String] = []) async throws -> Client {
        try await store.createClient(name: "Acme", plan: .free, allowedOrigins: origins, at: Self.now).0
    }

    func submit(_ json: String, origin: String? = nil, widget: Bool = false) async throws -> FeedbackItem {
        try await service.submit(
            body: Array(json.utf8), context: .init(isWidget: widget, referer: nil), origin: origin)
    }

    var storedItems: [FeedbackItem] { store.withState { Array($0.feedback.values) } }
    var storedScreenshots: [StoredScreenshot] { store.withState { $0.screenshots.values.map(\.record) } }

    // MARK: Submit

    @Test func submitStoresTheItemAtTheClocksTime() async throws {
        let client = try await client()
        clock.advance(by: 42)

        let item = try await submit(#"{"clientId":"\#(client.id)","rating":3,"comment":"Export is slow"}"#)

        #expect(item.createdAt == Self.now.addingTimeInterval(42))
        let stored = try #require(try await store.feedback(id: item.id, clientID: client.id))
        #expect(stored == item)
        #expect(stored.draft.rating == 3)
        #expect(stored.draft.comment == "Export is slow")
        #expect(stored.draft.source == .api)
        let page = try await store.listFeedback(clientID: client.id, filter: .init(), limit: 10, after: nil)
        #expect(page.items.map(\.id) == [item.id])
    }

    @Test func theWidgetMarksItsItemsAsWidgetItems() async throws {
        let client = try await client()
        let item = try await submit(#"{"clientId":"\#(client.id)","rating":1}"#, widget: true)
        #expect(try await store.feedback(id: item.id, clientID: client.id)?.draft.source == .widget)
    }

    @Test func anUnknownClientIsRefusedAndNothingIsStored() async throws {
        _ = try await client()
        await #expect(throws: FeedbackError.unknownClient) {
            _ = try await submit(#"{"clientId":"client_nosuchclient","rating":3}"#)
        }
        #expect(storedItems.isEmpty)
    }

    @Test func aClientWhoseClosureBeganIsUnknown() async throws {
        let client = try await client()
        #expect(try await store.beginAccountClosure(clientID: client.id, at: epochMillis(Self.now)))
        await #expect(throws: FeedbackError.unknownClient) {
            _ = try await submit(#"{"clientId":"\#(client.id)","rating":3}"#)
        }
        #expect(storedItems.isEmpty)
    }

    @Test func anOriginOffTheAllowlistIsRefusedAndNothingIsStored() async throws {
        let client = try await client(origins: ["https://app.example.com"])
        await #expect(throws: FeedbackError.originNotAllowed) {
            _ = try await submit(#"{"clientId":"\#(client.id)","rating":3}"#, origin: "https://evil.example")
        }
        #expect(storedItems.isEmpty)
        // The allowed origin and a server without an Origin header both get through.
        _ = try await submit(#"{"clientId":"\#(client.id)","rating":3}"#, origin: "https://app.example.com")
        _ = try await submit(#"{"clientId":"\#(client.id)","rating":4}"#, origin: nil)
        #expect(storedItems.count == 2)
    }

    @Test func anInvalidBodyNamesTheFieldAndStoresNothing() async throws {
        let client = try await client()
        await #expect(throws: FeedbackError.invalid(issues: ["rating": ["Rating must be an integer from 1 to 4"]])) {
            _ = try await submit(#"{"clientId":"\#(client.id)","rating":9}"#)
        }
        #expect(storedItems.isEmpty)
    }

    // MARK: Screenshot upload

    /// A PNG header (signature and IHDR) of a 640×480 image.
    static let png: [UInt8] =
        [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13] + Array("IHDR".utf8)
        + [0, 0, 0x02, 0x80, 0, 0, 0x01, 0xE0, 8, 6, 0, 0, 0]
    /// A GIF header of a 3×2 image.
    static let gif: [UInt8] = Array("GIF89a".utf8) + [3, 0, 2, 0, 0, 0, 0]

    @Test func anUploadIsCheckedByItsBytesAndStoredUnderTheClientsName() async throws {
        let client = try await client()

        // Declared as PNG, but the bytes are a GIF: the bytes win.
        let ref = try await service.uploadScreenshot(
            clientId: client.id, declaredType: "image/png", bytes: Self.gif, origin: nil)

        #expect(ref.mimeType == "image/gif")
        #expect(ref.width == 3 && ref.height == 2)
        #expect(ref.fileSize == Int64(Self.gif.count))
        #expect(ref.fileName.hasPrefix("\(client.id)/\(epochMillis(Self.now))-"))
        #expect(ref.fileName.hasSuffix(".gif"))
        #expect(ScreenshotName.isValid(ref.fileName))
        #expect(ref.url == "https://usero.test/api/screenshots/\(ref.fileName)")
        let file = String(ref.fileName.dropFirst(client.id.count + 1))
        let served = try #require(try await service.screenshotFile(clientId: client.id, file: file))
        #expect(served.mimeType == "image/gif")
        #expect(Array(try await served.contents.data()) == Self.gif)
        #expect(storedScreenshots.map(\.createdAt) == [Self.now])
    }

    @Test func aPNGKeepsItsDimensions() async throws {
        let client = try await client()
        let ref = try await service.uploadScreenshot(clientId: client.id, declaredType: nil, bytes: Self.png, origin: nil)
        #expect(ref.mimeType == "image/png")
        #expect(ref.width == 640 && ref.height == 480)
    }

    @Test(arguments: [
        ("image/png", Array("<svg xmlns='http://www.w3.org/2000/svg'/>".utf8)),
        ("text/plain", FeedbackServiceTests.png),
        (nil, Array("GIF8".utf8)),
    ] as [(String?, [UInt8])])
    func whatIsNotAnImageIsRefusedAndNothingIsStored(declared: String?, bytes: [UInt8]) async throws {
        let client = try await client()
        await #expect(throws: FeedbackError.notAnImage) {
            _ = try await service.uploadScreenshot(clientId: client.id, declaredType: declared, bytes: bytes, origin: nil)
        }
        #expect(storedScreenshots.isEmpty)
    }

    @Test func anUploadOfTenMegabytesIsAcceptedAndOneByteMoreIsTooLarge() async throws {
        let client = try await client()
        let limit = FeedbackService.maxScreenshotBytes
        let atLimit = Self.png + [UInt8](repeating: 0, count: limit - Self.png.count)
        let ref = try await service.uploadScreenshot(clientId: client.id, declaredType: nil, bytes: atLimit, origin: nil)
        #expect(ref.fileSize == Int64(limit))

        await #expect(throws: FeedbackError.fileTooLarge) {
            _ = try await service.uploadScreenshot(
                clientId: client.id, declaredType: "image/png", bytes: atLimit + [0], origin: nil)
        }
        #expect(storedScreenshots.count == 1)
    }

    @Test func anUploadWithoutAFileOrAClientIsRefused() async throws {
        let client = try await client()
        await #expect(throws: FeedbackError.screenshotMissing) {
            _ = try await service.uploadScreenshot(clientId: client.id, declaredType: nil, bytes: nil, origin: nil)
        }
        await #expect(throws: FeedbackError.clientIDMissing) {
            _ = try await service.uploadScreenshot(clientId: nil, declaredType: nil, bytes: Self.png, origin: nil)
        }
        await #expect(throws: FeedbackError.clientIDMissing) {
            _ = try await service.uploadScreenshot(clientId: "", declaredType: nil, bytes: Self.png, origin: nil)
        }
        await #expect(throws: FeedbackError.unknownClient) {
            _ = try await service.uploadScreenshot(
                clientId: "client_nosuchclient", declaredType: nil, bytes: Self.png, origin: nil)
        }
        #expect(storedScreenshots.isEmpty)
    }

    @Test func anUploadFromAnOriginOffTheAllowlistIsRefused() async throws {
        let client = try await client(origins: ["https://app.example.com"])
        await #expect(throws: FeedbackError.originNotAllowed) {
            _ = try await service.uploadScreenshot(
                clientId: client.id, declaredType: nil, bytes: Self.png, origin: "https://evil.example")
        }
        #expect(storedScreenshots.isEmpty)
    }

    /// The upload quota is what a client may hold: an upload that fills it to the byte is taken, and the next one is
    /// refused.
    @Test func anUploadThatFillsTheQuotaExactlyIsTaken() async throws {
        let client = try await client()
        let service = FeedbackService(
            store: store, clock: clock, publicURL: "https://usero.test/", uploadQuotaBytes: Int64(Self.png.count * 2))
        for _ in 0..<2 {
            _ = try await service.uploadScreenshot(clientId: client.id, declaredType: nil, bytes: Self.png, origin: nil)
        }
        await #expect(throws: FeedbackError.uploadQuotaExceeded(megabytes: 0)) {
            _ = try await service.uploadScreenshot(clientId: client.id, declaredType: nil, bytes: Self.png, origin: nil)
        }
        #expect(storedScreenshots.count == 2)
    }

    /// A submission naming another client's upload by its `fileName` learns nothing of it: the item keeps the
    /// object as its sender wrote it, not that upload's real size, type, dimensions or address, which the sender
    /// could otherwise read back through its own admin API or export.
    @Test func aScreenshotNamingAnotherClientsUploadIsKeptAsTheSenderWroteIt() async throws {
        let owner = try await client()
        let sender = try await client()
        let theirs = try await service.uploadScreenshot(clientId: owner.id, declaredType: nil, bytes: Self.png, origin: nil)
        #expect(theirs.width == 640 && theirs.mimeType == "image/png")
        let sent = ScreenshotRef(
            fileName: theirs.fileName, url: "https://example.com/guess.gif", fileSize: 1, mimeType: "image/gif",
            width: 1, height: 1)

        let item = try await submit(
            #"{"clientId":"\#(sender.id)","rating":3,"screenshots":[{"fileName":"\#(theirs.fileName)","#
                + #""url":"https://example.com/guess.gif","fileSize":1,"mimeType":"image/gif","width":1,"height":1}]}"#)

        #expect(item.draft.screenshots == [sent])
        #expect(try await store.feedback(id: item.id, clientID: sender.id)?.draft.screenshots == [sent])
    }

    // MARK: Idempotency-Key

    /// A key sent again with a body that differs in any one field, changed or left out, is refused as reused:
    /// answering it with the first item would tell the client its other submission was stored when nothing of it
    /// was. Every field the body can carry counts, down to each part of a screenshot object.
    @Test func aKeySentAgainWithAnyOneFieldChangedOrLeftOutIsRefusedAsReused() async throws {
        let client = try await client()
        let shot: [String: Any] = [
            "fileName": "\(client.id)/1700000000000-abc.png", "url": "https://example.com/a.png", "fileSize": 10,
            "mimeType": "image/png", "width": 640, "height": 480,
        ]
        let body: [String: Any] = [
            "clientId": client.id, "rating": 2, "comment": "Export to CSV times out", "userEmail": "ada@example.com",
            "pageUrl": "https://app.example.com/reports", "pageTitle": "Reports", "referrer": "https://example.com/",
            "environment": "production", "metadata": ["plan": "pro"], "sessionReplayId": "replay-1",
            "replayOffsetMs": 1500, "userId": "user-1", "screenshots": [shot],
        ]
        func send(_ fields: [String: Any]) async throws -> FeedbackItem {
            try await service.submit(
                body: Array(try JSONSerialization.data(withJSONObject: fields)),
                context: .init(isWidget: false, referer: nil), origin: nil, idempotencyKey: "k-1")
        }
        let first = try await send(body)
        #expect(try await send(body).id == first.id)

        let changed: [(String, Any)] = [
            ("rating", 3), ("comment", "Export to CSV fails"), ("userEmail", "grace@example.com"),
            ("pageUrl", "https://app.example.com/settings"), ("pageTitle", "Settings"),
            ("referrer", "https://example.org/"), ("environment", "staging"), ("metadata", ["plan": "team"]),
            ("sessionReplayId", "replay-2"), ("replayOffsetMs", 1501), ("userId", "user-2"),
            ("screenshots", [shot, shot]),
        ]
        let changedShot: [(String, Any)] = [
            ("fileName", "\(client.id)/1700000000000-abd.png"), ("url", "https://example.com/b.png"), ("fileSize", 11),
            ("mimeType", "image/gif"), ("width", 641), ("height", 481),
        ]
        var variants: [(String, [String: Any])] = changed.map { field, value in
            (field, body.merging([field: value]) { $1 })
        }
        variants += changed.map { field, _ in ("without \(field)", body.filter { $0.key != field }) }
        variants += changedShot.map { field, value in
            ("screenshots.0.\(field)", body.merging(["screenshots": [shot.merging([field: value]) { $1 }]]) { $1 })
        }
        for (field, variant) in variants {
            await #expect(throws: FeedbackError.submissionKeyReused, "\(field)") { _ = try await send(variant) }
        }
        #expect(storedItems.map(\.id) == [first.id])
    }

    // MARK: Serving screenshots

    @Test(arguments: [
        "../../etc/passwd", "x.svg", "1700000000000-abc.exe", "1700000000000-ABC.png", "1700000000000.png", "",
        "1700000000000-abc.png/../../x.png",
    ])
    func namesTheServiceCouldNotHaveMadeAreNotFound(file: String) async throws {
        let client = try await client()
        #expect(try await service.screenshotFile(clientId: client.id, file: file) == nil)
    }

    @Test func anotherClientsFileIsNotFound() async throws {
        let owner = try await client()
        let other = try await client()
        let ref = try await service.uploadScreenshot(clientId: owner.id, declaredType: nil, bytes: Self.png, origin: nil)
        let file = String(ref.fileName.dropFirst(owner.id.count + 1))

        #expect(try await service.screenshotFile(clientId: other.id, file: file) == nil)
        #expect(try await service.screenshotFile(clientId: owner.id, file: file) != nil)
    }

    @Test func aRecordFiledUnderAnotherClientsNameIsNotServed() async throws {
        // A record whose owner differs from the folder it names (never made by the service, but the check holds).
        let owner = try await client()
        let other = try await client()
        let fileName = "\(other.id)/1700000000000-abc.png"
        try await store.saveScreenshot(
            StoredScreenshot(
                fileName: fileName, clientId: owner.id, mimeType: "image/png", fileSize: Int64(Self.png.count),
                width: 640, height: 480, createdAt: Self.now),
            bytes: Self.png)
        #expect(try await service.screenshotFile(clientId: other.id, file: "1700000000000-abc.png") == nil)
    }

    @Test func aClosingClientsFilesAreNotFound() async throws {
        let client = try await client()
        let ref = try await service.uploadScreenshot(clientId: client.id, declaredType: nil, bytes: Self.png, origin: nil)
        let file = String(ref.fileName.dropFirst(client.id.count + 1))
        #expect(try await store.beginAccountClosure(clientID: client.id, at: epochMillis(Self.now)))
        #expect(try await service.screenshotFile(clientId: client.id, file: file) == nil)
    }
}
