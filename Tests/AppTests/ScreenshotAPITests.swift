import Feedback
import Foundation
import Testing

@testable import usero
@testable import Inbox
@testable import StoreSQLite
import SlackGateway
import Retention
import UseroTestSupport

/// `POST /api/screenshots` and `GET /api/screenshots/{clientId}/{file}` as the docs describe them.
@Suite struct ScreenshotAPITests {
    func upload(_ server: TestServer, clientId: String?, file: Data?, type: String = "image/png") async throws
        -> HTTPResult
    {
        var form = MultipartBody()
        if let clientId { form.field("clientId", clientId) }
        if let file { form.file("screenshot", fileName: "shot", type: type, file) }
        return try await server.request(
            "POST", "/api/screenshots", headers: ["Content-Type": form.contentType], body: form.finished())
    }

    /// One file and one client per upload, as the docs say: a second file, a second `clientId` or a field of its
    /// own is a 400 naming it, and nothing is stored (an outside review had each answered 200).
    @Test func aSecondFileOrClientOrAnotherFieldIsRefusedNamingIt() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let forms: [(String, (inout MultipartBody) -> Void)] = [
                ("screenshot", { $0.file("screenshot", fileName: "b.gif", type: "image/gif", Images.gif()) }),
                ("clientId", { $0.field("clientId", client.id) }),
                ("name", { $0.field("name", "bug.png") }),
            ]
            for (refused, extra) in forms {
                var form = MultipartBody()
                form.field("clientId", client.id)
                form.file("screenshot", fileName: "a.png", type: "image/png", Images.png())
                extra(&form)
                let result = try await server.request(
                    "POST", "/api/screenshots", headers: ["Content-Type": form.contentType], body: form.finished())
                #expect(result.status == 400, "\(refused)")
                #expect((result.json["issues"] as? [String: [String]])?.keys.sorted() == [refused])
            }
            #expect(try await server.count("screenshot") == 0)
        }
    }

    @Test(.enabled(if: !TestBackend.usesPostgres, TestBackend.sqliteOnly))
    func filesNoUploadFinishedStoringAreGoneAfterTheNextStart() async throws {
        let folder = TestServer.makeFolder()
        let (client, kept, root) = try await TestServer.run(folder: folder) { server in
            let client = try await server.createClient()
            let result = try await upload(server, clientId: client.id, file: Images.png(width: 2, height: 2))
            #expect(result.status == 200)
            let shot = try #require(result.json["screenshot"] as? [String: Any])
            return (client, try #require(shot["fileName"] as? String), server.parts.files.root)
        }
        // What a crash between an upload's rename into place and its row's commit leaves (a file no row names), and
        // a write cut off before its rename, both two hours old; and a file written just now, as a running
        // upload's would be.
        let manager = FileManager.default
        let orphan = root.appendingPathComponent("\(client.id)/1700000000000-orphan1.png")
        let partial = root.appendingPathComponent("\(client.id)/.1700000000000-partial1.png.tmp")
        let running = root.appendingPathComponent("\(client.id)/1700000000000-running1.png")
        for url in [orphan, partial, running] { #expect(manager.createFile(atPath: url.path, contents: Images.png(width: 1, height: 1))) }
        for url in [orphan, partial] {
            try manager.setAttributes([.modificationDate: Date().addingTimeInterval(-7_200)], ofItemAtPath: url.path)
        }

        try await TestServer.run(folder: folder) { server in
            // Removed beside the running server, soon after it starts
            try await server.eventually { !manager.fileExists(atPath: orphan.path) }
            #expect(!manager.fileExists(atPath: partial.path))
            #expect(manager.fileExists(atPath: running.path))
            let served = try await server.request("GET", "/api/screenshots/\(kept)")
            #expect(served.status == 200)
            #expect(served.body == Images.png(width: 2, height: 2))
        }
    }

    /// A `serve` started on a mistyped `USERO_DATABASE` (a new, empty store) beside the data folder in use deleted
    /// every screenshot in it as files no upload had finished storing (found by a review). A store with no
    /// screenshot at all leaves them, and says why.
    @Test(.enabled(if: !TestBackend.usesPostgres, TestBackend.sqliteOnly))
    func aNewStoreBesideADataFolderInUseLeavesItsScreenshotsAlone() async throws {
        let folder = TestServer.makeFolder()
        let (kept, root) = try await TestServer.run(folder: folder) { server in
            let client = try await server.createClient()
            let result = try await upload(server, clientId: client.id, file: Images.png(width: 2, height: 2))
            let shot = try #require(result.json["screenshot"] as? [String: Any])
            return (try #require(shot["fileName"] as? String), server.parts.files.root)
        }
        let file = root.appendingPathComponent(kept).path
        try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-7_200)], ofItemAtPath: file)
        try await TestServer.run(folder: folder, configure: { $0.databasePath = folder.appendingPathComponent("typo.sqlite").path }) {
            server in
            try await server.eventually { server.logs.text.contains("USERO_DATA_DIR holds screenshot files of which this store") }
            #expect(FileManager.default.fileExists(atPath: file))
        }
        // The right store again: its screenshot is there.
        try await TestServer.run(folder: folder) { server in
            let served = try await server.request("GET", "/api/screenshots/\(kept)")
            #expect(served.status == 200)
        }
    }

    @Test(arguments: [
        (Images.png(width: 1280, height: 800), "image/png", 1280, 800),
        (Images.jpeg(width: 640, height: 480), "image/jpeg", 640, 480),
        (Images.gif(width: 32, height: 16), "image/gif", 32, 16),
        (Images.webp(width: 300, height: 200), "image/webp", 300, 200),
        (Images.bmp(width: 5, height: 3), "image/bmp", 5, 3),
    ])
    func imagesAreStoredWithTheirDimensionsAndServedBack(image: Data, mime: String, width: Int, height: Int)
        async throws
    {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let result = try await upload(server, clientId: client.id, file: image, type: mime)
            #expect(result.status == 200)
            #expect(result.json["success"] as? Bool == true)
            // In the public docs' order, as curl shows it: success first, then the object's name and address.
            #expect(result.text.hasPrefix(#"{"success":true,"screenshot":{"fileName":""#), "\(result.text)")
            #expect(result.header("Content-Type") == "application/json; charset=utf-8")
            #expect(result.header("Access-Control-Allow-Origin") == "*")
            let shot = try #require(result.json["screenshot"] as? [String: Any])
            #expect(shot["mimeType"] as? String == mime)
            #expect(shot["width"] as? Int == width)
            #expect(shot["height"] as? Int == height)
            #expect(shot["fileSize"] as? Int == image.count)
            let fileName = try #require(shot["fileName"] as? String)
            #expect(fileName.hasPrefix("\(client.id)/"))
            #expect((shot["url"] as? String)?.hasSuffix("/api/screenshots/\(fileName)") == true)
            let served = try await server.request("GET", "/api/screenshots/\(fileName)")
            #expect(served.status == 200)
            #expect(served.header("Content-Type") == mime)
            #expect(served.body == image)
            // Never kept by a browser: once deleted, it is not shown from a cache.
            #expect(served.header("Cache-Control") == "private, no-store")
            // Shown only as the image its bytes proved it to be: never sniffed as another type, never run as a page.
            #expect(served.header("X-Content-Type-Options") == "nosniff")
            #expect(served.header("Content-Security-Policy") == "default-src 'none'")
        }
    }

    /// A photo's Exif (a phone's GPS position), XMP, PNG text and WebP EXIF are not stored: the file served, and the
    /// size answered, are the image without them; a JPEG keeps its orientation, so it still shows upright.
    @Test func aPhotosLocationAndWordsAreNeitherStoredNorServed() async throws {
        let canary = Array("GPS 48.8584N 2.2945E".utf8)
        // Exif: a big-endian TIFF whose one entry is the orientation (6: turn 90°), the canary after it.
        let exif = Array("Exif".utf8) + [0, 0, 0x4D, 0x4D, 0, 0x2A, 0, 0, 0, 8, 0, 1]
            + [0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0] + [0, 0, 0, 0] + canary
        var jpeg = [UInt8](Images.jpeg(width: 640, height: 480))
        jpeg.insert(contentsOf: [0xFF, 0xE1, UInt8((exif.count + 2) >> 8), UInt8((exif.count + 2) & 0xFF)] + exif, at: 20)
        var png = [UInt8](Images.png(width: 20, height: 10))
        let text = Array("Location".utf8) + [0] + canary
        png.insert(contentsOf: [0, 0, 0, UInt8(text.count)] + Array("tEXt".utf8) + text + [1, 2, 3, 4], at: 33)
        try await TestServer.run { [jpeg, png] server in
            let client = try await server.createClient()
            var servedJPEG = Data()
            for (image, mime, width) in [(jpeg, "image/jpeg", 640), (png, "image/png", 20)] {
                let result = try await upload(server, clientId: client.id, file: Data(image), type: mime)
                #expect(result.status == 200, "\(mime)")
                let shot = try #require(result.json["screenshot"] as? [String: Any])
                #expect(shot["width"] as? Int == width)
                let served = try await server.request("GET", "/api/screenshots/\(try #require(shot["fileName"] as? String))")
                #expect(served.status == 200)
                #expect(served.body.range(of: Data(canary)) == nil, "\(mime)")
                #expect(served.body.count < image.count && shot["fileSize"] as? Int == served.body.count, "\(mime)")
                if mime == "image/jpeg" { servedJPEG = served.body }
            }
            // The JPEG's orientation is there, in an Exif segment of its own.
            #expect(servedJPEG.range(of: Data([0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6])) != nil)
        }
    }

    /// A header may state a size no image has (a PNG 2^31 pixels wide): the upload is stored and served like any
    /// other, without that dimension, on either backend (PostgreSQL's 32-bit column refused it, a 500, once).
    @Test(arguments: [(UInt32(0x8000_0000), UInt32(800)), (UInt32(640), UInt32(0xFFFF_FFFF))])
    func aSizeNoImageHasIsLeftOut(width: UInt32, height: UInt32) async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let image = Images.png(width: width, height: height)
            let result = try await upload(server, clientId: client.id, file: image, type: "image/png")
            #expect(result.status == 200)
            let shot = try #require(result.json["screenshot"] as? [String: Any])
            #expect(shot["width"] as? Int == (width < 0x8000_0000 ? Int(width) : nil))
            #expect(shot["height"] as? Int == (height < 0x8000_0000 ? Int(height) : nil))
            let fileName = try #require(shot["fileName"] as? String)
            let served = try await server.request("GET", "/api/screenshots/\(fileName)")
            #expect(served.status == 200)
            #expect(served.body == image)
        }
    }

    /// A submission names its upload by the object `POST /api/screenshots` answered, but the object comes from the
    /// client: what the item then shows (to the admin API, an export) is the upload's own record, not a URL, size,
    /// type or dimensions the sender put in its place. An object naming no upload stays as sent, within the bounds
    /// an upload can have.
    @Test func anItemShowsItsUploadAsStoredNotAsTheSenderDescribedIt() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let uploaded = try await upload(server, clientId: client.id, file: Images.png(width: 13, height: 10))
            let answered = try #require(uploaded.json["screenshot"] as? [String: Any])
            let fileName = try #require(answered["fileName"] as? String)
            let posted = try await server.postJSON("/api/feedback", """
                {"clientId":"\(client.id)","comment":"see the picture","screenshots":[{"fileName":"\(fileName)",
                 "url":"https://evil.example/phish.png","fileSize":1,"mimeType":"image/gif","width":9999,"height":0}]}
                """)
            #expect(posted.status == 200, "\(posted.text)")
            let id = try #require(posted.json["feedbackId"] as? String)
            let item = try await server.request(
                "GET", "/api/feedback/\(id)", headers: ["Authorization": "Bearer \(client.key)"]).json
            let shown = try #require((item["screenshots"] as? [[String: Any]])?.first)
            #expect(NSDictionary(dictionary: shown) == NSDictionary(dictionary: answered), "\(shown)")

            // (A `url` that is no web address, kept for a screenshot that names no upload of this client, would be
            // handed to whatever reads the admin API as the image's address.)
            let wrong: [(String, Any)] = [
                ("fileSize", 10_485_761), ("width", 2_147_483_648), ("height", -1), ("url", "javascript:alert(1)"),
                ("url", "/api/screenshots/x.png"), ("url", "data:image/png;base64,AAAA"),
            ]
            for (field, value) in wrong {
                var shot: [String: Any] = [
                    "fileName": "\(client.id)/none.png", "url": "https://example.com/none.png", "fileSize": 1,
                    "mimeType": "image/png",
                ]
                shot[field] = value
                let body = try JSONSerialization.data(
                    withJSONObject: ["clientId": client.id, "comment": "x", "screenshots": [shot]])
                let refused = try await server.postJSON("/api/feedback", String(decoding: body, as: UTF8.self))
                #expect(refused.status == 400, "\(field)")
                let issues = refused.json["issues"] as? [String: [String]]
                #expect(issues?["screenshots.0.\(field)"]?.isEmpty == false, "\(refused.text)")
            }
        }
    }

    /// The docs take any `image/*`: formats whose size lies deep in the file are stored and served by their proven
    /// type, without `width`/`height`. The declared type does not decide it (a HEIC declared as PNG is a HEIC).
    @Test(arguments: [
        (Images.tiff(), "image/tiff"), (Images.isoImage(brand: "avif"), "image/avif"),
        (Images.isoImage(brand: "heic"), "image/heic"),
    ])
    func otherImageTypesAreStoredWithoutDimensions(image: Data, mime: String) async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let result = try await upload(server, clientId: client.id, file: image, type: "image/png")
            #expect(result.status == 200)
            let shot = try #require(result.json["screenshot"] as? [String: Any])
            #expect(shot["mimeType"] as? String == mime)
            #expect(shot["width"] == nil && shot["height"] == nil)
            let fileName = try #require(shot["fileName"] as? String)
            let served = try await server.request("GET", "/api/screenshots/\(fileName)")
            #expect(served.status == 200)
            #expect(served.header("Content-Type") == mime)
            #expect(served.body == image)
        }
    }

    /// `HEAD` answers what `GET` would (type, length, CORS) without the bytes, and a bare 404 for a miss; a path
    /// under the route that names no file is a 404 with CORS, so a browser script can read it.
    @Test func headDescribesAStoredScreenshotAndMissesAre404sWithCORS() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let image = Images.png(width: 64, height: 48)
            let uploaded = try await upload(server, clientId: client.id, file: image)
            let fileName = try #require((uploaded.json["screenshot"] as? [String: Any])?["fileName"] as? String)

            let head = try await server.request("HEAD", "/api/screenshots/\(fileName)")
            #expect(head.status == 200)
            #expect(head.header("Content-Type") == "image/png")
            #expect(head.header("Content-Length") == "\(image.count)")
            #expect(head.header("Access-Control-Allow-Origin") == "*")
            #expect(head.body.isEmpty)
            // The connection is still usable after it: no stray body was sent.
            #expect(try await server.request("GET", "/api/screenshots/\(fileName)").body == image)

            let miss = try await server.request("HEAD", "/api/screenshots/\(client.id)/1-nothing.png")
            #expect(miss.status == 404)
            #expect(miss.body.isEmpty)
            for path in ["/api/screenshots/\(client.id)/", "/api/screenshots/\(fileName)/more", "/api/nothing-here"] {
                let unmatched = try await server.request("GET", path)
                #expect(unmatched.status == 404, "\(path)")
                #expect(unmatched.json["error"] as? String == "Not found")
                #expect(unmatched.header("Access-Control-Allow-Origin") == "*", "\(path)")
            }
        }
    }

    @Test func documentedErrorsForMissingOrBadParts() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let noFile = try await upload(server, clientId: client.id, file: nil)
            #expect(noFile.status == 400)
            #expect(noFile.text == #"{"error":"Screenshot file is required"}"#)
            // A form whose file input was left empty: browsers send the part with an empty name and no bytes.
            var emptyInput = MultipartBody()
            emptyInput.field("clientId", client.id)
            emptyInput.file("screenshot", fileName: "", type: "application/octet-stream", Data())
            let empty = try await server.request(
                "POST", "/api/screenshots", headers: ["Content-Type": emptyInput.contentType],
                body: emptyInput.finished())
            #expect(empty.status == 400)
            #expect(empty.text == #"{"error":"Screenshot file is required"}"#)
            let noClient = try await upload(server, clientId: nil, file: Images.png())
            #expect(noClient.status == 400)
            #expect(noClient.text == #"{"error":"Client ID is required"}"#)
            let notImage = try await upload(server, clientId: client.id, file: Data("hello".utf8), type: "text/plain")
            #expect(notImage.status == 400)
            #expect(notImage.text == #"{"error":"File must be an image"}"#)
            let unknown = try await upload(server, clientId: "client_nobody", file: Images.png())
            #expect(unknown.status == 404)
            #expect(unknown.text == #"{"error":"Invalid client ID"}"#)
            // A body cut off inside the file, or sent without its closing boundary, says so: the file was sent.
            var form = MultipartBody()
            form.field("clientId", client.id)
            form.file("screenshot", fileName: "shot", type: "image/png", Images.png())
            let whole = form.finished()
            let closing = try #require(whole.range(of: Data("\r\n--".utf8), options: .backwards)).lowerBound
            for body in [whole.prefix(upTo: closing - 10), whole.prefix(upTo: closing)] {
                let cut = try await server.request(
                    "POST", "/api/screenshots", headers: ["Content-Type": form.contentType], body: Data(body))
                #expect(cut.status == 400)
                #expect(cut.text == #"{"error":"Screenshot part is incomplete: the body ended before its closing boundary"}"#)
            }
            #expect(try await server.count("screenshot") == 0)
        }
    }

    /// curl labels a `.webp`, `.avif` or `.heic` file `application/octet-stream` (the docs' own `-F screenshot=@…`),
    /// and a browser may give a file whose type it does not know no type: the bytes decide. A type that names
    /// something else is refused whatever the bytes.
    @Test func anImageOfAnUnstatedTypeIsTakenByItsBytes() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            for type in ["application/octet-stream", "Application/Octet-Stream; charset=binary", ""] {
                let result = try await upload(server, clientId: client.id, file: Images.webp(width: 30, height: 20), type: type)
                #expect(result.status == 200, "\(type): \(result.text)")
                let shot = try #require(result.json["screenshot"] as? [String: Any])
                #expect(shot["mimeType"] as? String == "image/webp")
                #expect(shot["width"] as? Int == 30)
            }
            for (bytes, type) in [(Data("hello".utf8), "application/octet-stream"), (Images.png(), "text/plain")] {
                let result = try await upload(server, clientId: client.id, file: bytes, type: type)
                #expect(result.status == 400, "\(type)")
                #expect(result.text == #"{"error":"File must be an image"}"#)
            }
            #expect(try await server.count("screenshot") == 3)
        }
    }

    /// The first bytes of a JPEG are not a JPEG: an upload must hold the header of the format it starts as.
    @Test func aSignatureAloneIsNotAnImage() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            for bytes in [[0xFF, 0xD8, 0xFF], Array("GIF89a".utf8)] as [[UInt8]] {
                let result = try await upload(server, clientId: client.id, file: Data(bytes), type: "image/jpeg")
                #expect(result.status == 400)
                #expect(result.json["error"] as? String == "File must be an image")
            }
        }
    }

    @Test func declaredImageTypeDoesNotMakeTextAnImage() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let svg = Data(#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#.utf8)
            for (bytes, type) in [(Data("plain text".utf8), "image/png"), (svg, "image/svg+xml")] {
                let result = try await upload(server, clientId: client.id, file: bytes, type: type)
                #expect(result.status == 400)
                #expect(result.json["error"] as? String == "File must be an image")
            }
            #expect(try await server.count("screenshot") == 0)
        }
    }

    @Test func fileOver10MBIsRefusedAndAHugeBodyIs413() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let big = Images.png(holding: Data(count: 10 * 1024 * 1024))
            let tooLarge = try await upload(server, clientId: client.id, file: big)
            #expect(tooLarge.status == 400)
            #expect(tooLarge.text == #"{"error":"File too large (max 10MB)"}"#)
            let huge = Images.png(holding: Data(count: 12 * 1024 * 1024))
            let hugeBody = try await upload(server, clientId: client.id, file: huge)
            // The contract's 413 for a body the route never reads whole, saying what the public docs say of a file
            // over 10 MB (a 12 MB phone photo read "Request body too large").
            #expect(hugeBody.status == 413)
            #expect(hugeBody.text == #"{"error":"File too large (max 10MB)"}"#)
            #expect(hugeBody.header("Access-Control-Allow-Origin") == "*")
            // Declared in the head, at any spelling of the route, with the free-disk watermark on or off.
            let connection = try RawConnection(port: server.port)
            connection.send(
                "POST /api/screenshots/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                    + "Content-Length: \(20 * 1024 * 1024)\r\n\r\n")
            let declared = try #require(await connection.response(timeout: .seconds(30)))
            #expect(declared.status == 413)
            #expect(declared.body == #"{"error":"File too large (max 10MB)"}"#)
            #expect(try await server.count("screenshot") == 0)
        }
    }

    @Test(arguments: [
        "/api/screenshots/client_abc/..%2F..%2Fusero.sqlite", "/api/screenshots/client_abc/123-abc.png",
        "/api/screenshots/..%2F..%2F/usero.sqlite", "/api/screenshots/client_abc/%2e%2e",
    ])
    func nothingOutsideTheStoreIsServed(path: String) async throws {
        try await TestServer.run { server in
            let result = try await server.request("GET", path)
            #expect(result.status == 404)
        }
    }

    @Test func notAMultipartBodyIs400() async throws {
        try await TestServer.run { server in
            let result = try await server.postJSON("/api/screenshots", #"{"clientId":"x"}"#)
            #expect(result.status == 400)
            #expect(result.json["error"] is String)
        }
    }
}
