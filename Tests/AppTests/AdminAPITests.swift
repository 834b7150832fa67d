import Feedback
import Foundation
import Testing

@testable import usero
@testable import Inbox
@testable import StoreSQLite
import SlackGateway
import Retention
import UseroTestSupport

/// The admin API: Bearer admin keys, newest-first paging, filters, and no client seeing another's rows.
@Suite struct AdminAPITests {
    @Test(arguments: [nil, "Bearer wrong", "Bearer ", "Basic abc", "uak_nothing"])
    func requestsWithoutAValidKeyAre401(authorization: String?) async throws {
        try await TestServer.run { server in
            _ = try await server.createClient()
            var headers: [String: String] = [:]
            if let authorization { headers["Authorization"] = authorization }
            let result = try await server.request("GET", "/api/feedback", headers: headers)
            #expect(result.status == 401)
            #expect(result.json["error"] is String)
            // RFC 9110: a 401 names the scheme that would do.
            #expect(result.header("WWW-Authenticate") == #"Bearer realm="usero""#)
        }
    }

    /// The real key under another scheme (`Basic`, as a tool that only knows Basic sends it, or no scheme at all) is
    /// refused: only `Bearer` carries an admin key, in any letter case.
    @Test func theRightKeyUnderAnotherSchemeIs401() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            for authorization in ["Basic \(client.key)", "Token \(client.key)", client.key] {
                let result = try await server.request("GET", "/api/feedback", headers: ["Authorization": authorization])
                #expect(result.status == 401, "\(authorization.prefix(6))")
            }
            let lower = try await server.request("GET", "/api/feedback", headers: ["Authorization": "bearer \(client.key)"])
            #expect(lower.status == 200)
        }
    }

    @Test func pagesWalkNewestFirstWithoutRepeats() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            var posted: [String] = []
            for index in 1...5 {
                let result = try await server.postJSON("/api/feedback", #"{"clientId":"\#(client.id)","comment":"n\#(index)"}"#)
                posted.append(try #require(result.json["feedbackId"] as? String))
            }
            var seen: [String] = []
            var cursor: String?
            repeat {
                let query = "/api/feedback?limit=2" + (cursor.map { "&cursor=\($0)" } ?? "")
                let page = try await server.request("GET", query, headers: ["Authorization": "Bearer \(client.key)"])
                #expect(page.status == 200)
                let items = try #require(page.json["items"] as? [[String: Any]])
                #expect(items.count <= 2)
                seen += items.compactMap { $0["id"] as? String }
                cursor = page.json["nextCursor"] as? String
            } while cursor != nil
            #expect(seen == Array(posted.reversed()))
        }
    }

    @Test func filtersBySourceAndEnvironment() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            _ = try await server.postJSON("/api/feedback", #"{"clientId":"\#(client.id)","rating":1}"#)
            _ = try await server.postJSON("/api/feedback", #"{"clientId":"\#(client.id)","rating":2,"environment":"staging"}"#)
            _ = try await server.postJSON(
                "/api/feedback", #"{"clientId":"\#(client.id)","rating":3}"#, headers: ["X-Usero-Widget": "1"])
            let auth = ["Authorization": "Bearer \(client.key)"]
            func ratings(_ query: String) async throws -> [Int] {
                let page = try await server.request("GET", "/api/feedback\(query)", headers: auth)
                return (page.json["items"] as? [[String: Any]] ?? []).compactMap { $0["rating"] as? Int }.sorted()
            }
            #expect(try await ratings("") == [1, 2, 3])
            #expect(try await ratings("?source=widget") == [3])
            #expect(try await ratings("?source=api") == [1, 2])
            #expect(try await ratings("?environment=staging") == [2])
            #expect(try await ratings("?environment=") == [1, 3])
            #expect(try await ratings("?source=api&environment=") == [1])
            // A query string is a form, as browsers and URLSearchParams write it: `+` is a space, names are decoded.
            _ = try await server.postJSON("/api/feedback", #"{"clientId":"\#(client.id)","rating":4,"environment":"my env"}"#)
            _ = try await server.postJSON("/api/feedback", #"{"clientId":"\#(client.id)","rating":1,"environment":"my+env"}"#)
            #expect(try await ratings("?environment=my+env") == [4])
            #expect(try await ratings("?environment=my%20env") == [4])
            #expect(try await ratings("?environment=my%2Benv") == [1])
            #expect(try await ratings("?%65nvironment=staging&sour%63e=api") == [2])
        }
    }

    /// `q` finds the items whose comment or end user's email holds it, ignoring the case of ASCII letters, within
    /// the other filters and across pages; `%` and `_` are themselves. Empty or blank, it is no search.
    @Test func searchFindsCommentsAndEmailsWithinTheOtherFilters() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let other = try await server.createClient()
            func post(_ body: String, headers: [String: String] = [:]) async throws {
                let posted = try await server.postJSON("/api/feedback", #"{"clientId":"\#(client.id)",\#(body)}"#, headers: headers)
                #expect(posted.status == 200, "\(body)")
            }
            try await post(#""rating":1,"comment":"Export to CSV times out""#)
            try await post(#""rating":2,"comment":"the csv import works","environment":"staging""#)
            try await post(#""rating":3,"comment":"Nice","userEmail":"csv.fan@example.com""#, headers: ["X-Usero-Widget": "1"])
            try await post(#""rating":4,"comment":"50% off_sale""#)
            try await post(#""rating":1,"comment":"500 off sale and cs v""#)
            _ = try await server.postJSON("/api/feedback", #"{"clientId":"\#(other.id)","rating":4,"comment":"CSV too"}"#)
            let auth = ["Authorization": "Bearer \(client.key)"]
            func ratings(_ query: String) async throws -> [Int] {
                let page = try await server.request("GET", "/api/feedback\(query)", headers: auth)
                #expect(page.status == 200, "\(query): \(page.text.prefix(200))")
                return (page.json["items"] as? [[String: Any]] ?? []).compactMap { $0["rating"] as? Int }.sorted()
            }
            #expect(try await ratings("?q=csv&environment=") == [1, 3])
            #expect(try await ratings("?q=CSV") == [1, 2, 3])
            #expect(try await ratings("?q=csv&source=widget") == [3])
            #expect(try await ratings("?q=csv&environment=staging") == [2])
            #expect(try await ratings("?q=+%20csv+") == [1, 2, 3])
            #expect(try await ratings("?q=50%25+off_") == [4])
            #expect(try await ratings("?q=example.com") == [3])
            #expect(try await ratings("?q=nowhere") == [])
            #expect(try await ratings("?q=") == [1, 1, 2, 3, 4])
            #expect(try await ratings("?q=+++") == [1, 1, 2, 3, 4])
            // Paging keeps the search: one item a page, and only the ones that match, newest first.
            var seen: [Int] = []
            var cursor: String?
            repeat {
                let page = try await server.request(
                    "GET", "/api/feedback?q=csv&limit=1" + (cursor.map { "&cursor=\($0)" } ?? ""), headers: auth)
                let items = try #require(page.json["items"] as? [[String: Any]])
                #expect(items.count <= 1)
                seen += items.compactMap { $0["rating"] as? Int }
                cursor = page.json["nextCursor"] as? String
            } while cursor != nil && seen.count < 10
            #expect(seen == [3, 2, 1])
        }
    }

    /// Pages hold 50 items unless asked, and up to 200 when asked (`limit`'s documented range). A parameter given
    /// empty, as the route is written (`?source=&limit=&cursor=`) and a form with nothing chosen sends it, is one not
    /// given.
    @Test func pagesHold50ByDefaultAndUpTo200AndEmptyParametersAreNotGiven() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            for index in 1...51 {
                let posted = try await server.postJSON("/api/feedback", #"{"clientId":"\#(client.id)","comment":"n\#(index)"}"#)
                #expect(posted.status == 200)
            }
            let auth = ["Authorization": "Bearer \(client.key)"]
            for query in ["", "?source=&limit=&cursor="] {
                let page = try await server.request("GET", "/api/feedback\(query)", headers: auth)
                #expect(page.status == 200, "\(query): \(page.text.prefix(200))")
                #expect((page.json["items"] as? [Any])?.count == 50, "\(query)")
                #expect(page.json["nextCursor"] is String, "\(query)")
            }
            let all = try await server.request("GET", "/api/feedback?limit=200", headers: auth)
            #expect(all.status == 200)
            #expect((all.json["items"] as? [Any])?.count == 51)
            #expect(all.json["nextCursor"] is NSNull)
        }
    }

    @Test(arguments: [
        "?limit=0", "?limit=201", "?limit=ten", "?source=email", "?cursor=%%%", "?cursor=bm90LWEtY3Vyc29y",
        "?cursor=MToA",  // `1:` and a NUL, which PostgreSQL's text cannot hold
        // A typo, or a second value, would otherwise be dropped: an unfiltered list taken for a filtered one.
        "?enviroment=production", "?limit=1&limit=2", "?source=api&source=widget",
        // A search the inbox would cut, or one holding NUL, which no stored text holds.
        "?q=" + String(repeating: "a", count: 201), "?q=" + String(repeating: "%C3%A9", count: 101) + "%CC%81" + String(repeating: "%CC%81", count: 900),
        "?q=a%00b", "?q=a&q=b",
    ])
    func badQueriesAre400(query: String) async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let result = try await server.request("GET", "/api/feedback\(query)", headers: ["Authorization": "Bearer \(client.key)"])
            #expect(result.status == 400)
            #expect(result.json["error"] is String)
            // A validation error names its parameter in `issues`, as the body's do.
            let name = String(query.dropFirst().prefix { $0 != "=" })
            let issues = try #require(result.json["issues"] as? [String: [String]])
            #expect(Array(issues.keys) == [name])
            #expect(issues[name] == [try #require(result.json["error"] as? String)])
        }
    }

    /// A route refuses a query parameter or a body it does not read, with a 400 naming it, and does nothing: an
    /// outside review closed an account with `{"dryRun":true}` (answered 204) and took every audit kind for
    /// `?kind=…`. Without them, each does what it does.
    @Test func adminRoutesRefuseParametersAndBodiesTheyDoNotRead() async throws {
        try await withFakeSlack { _, api in
            try await TestServer.run(configure: { SlackTestSettings.configure(&$0, fakeURL: api) }) { server in
                let client = try await server.createClient()
                let posted = try await server.postJSON("/api/feedback", #"{"clientId":"\#(client.id)","comment":"kept","userId":"u1"}"#)
                let id = try #require(posted.json["feedbackId"] as? String)
                let auth = ["Authorization": "Bearer \(client.key)"]
                let json = auth.merging(["Content-Type": "application/json"]) { $1 }
                let withQueries: [(String, String, String?)] = [
                    ("GET", "/api/feedback/\(id)?fields=comment", nil), ("DELETE", "/api/feedback/\(id)?soft=1", nil),
                    ("GET", "/api/end-users/u1?include=feedback", nil), ("DELETE", "/api/account?confirm=false", nil),
                    ("GET", "/api/audit?kind=retention_sweep", nil),
                    ("POST", "/api/privacy/erase?userId=u1", #"{"userId":"u2"}"#),
                    ("POST", "/api/slack/install-link?team=T1", nil), ("GET", "/api/slack/installation?x=1", nil),
                    ("GET", "/api/slack/settings?x=1", nil), ("PUT", "/api/slack/settings?x=1", #"{"triggerEmoji":["bug"]}"#),
                ]
                for (method, path, body) in withQueries {
                    let result = try await server.request(method, path, headers: json, body: body.map { Data($0.utf8) })
                    let name = String(path.split(separator: "?")[1].prefix { $0 != "=" })
                    #expect(result.status == 400, "\(method) \(path)")
                    #expect((result.json["issues"] as? [String: [String]])?.keys.sorted() == [name], "\(method) \(path)")
                }
                for (method, path) in [("DELETE", "/api/account"), ("DELETE", "/api/feedback/\(id)"), ("POST", "/api/slack/install-link")] {
                    for body in [#"{"dryRun":true}"#, "[]", "0", "{} {}", "{}" + String(repeating: " ", count: 80)] {
                        let result = try await server.request(method, path, headers: json, body: Data(body.utf8))
                        #expect(result.status == 400, "\(method) \(path) \(body)")
                        #expect(result.json["issues"] as? [String: [String]] == ["body": ["This request takes no body"]])
                    }
                }
                // What a client that always sends JSON sends for nothing carries nothing to drop: a link is made.
                for body in ["{}", " { }\n", "null"] {
                    let link = try await server.request("POST", "/api/slack/install-link", headers: json, body: Data(body.utf8))
                    #expect(link.status == 200, "\(body)")
                    #expect((link.json["url"] as? String)?.isEmpty == false)
                }
                // Nothing was done: the item (of the person `u1`) is there
                #expect(try await server.request("GET", "/api/feedback/\(id)", headers: auth).status == 200)
                #expect(try await server.count("feedback") == 1)
                // and without them, each is what it was
                #expect(try await server.request("DELETE", "/api/feedback/\(id)", headers: auth).status == 204)
                #expect(try await server.request("DELETE", "/api/account", headers: json, body: Data("{}".utf8)).status == 204)
            }
        }
    }

    /// What an admin key reads (items, an export, an end user) is stored by no cache on the way; a public answer
    /// is left as it was.
    @Test func answersToAnAdminKeyAreNotCached() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let posted = try await server.postJSON(
                "/api/feedback", #"{"clientId":"\#(client.id)","comment":"private","userEmail":"a@b.example"}"#)
            #expect(posted.header("Cache-Control") == nil)
            let id = try #require(posted.json["feedbackId"] as? String)
            let auth = ["Authorization": "Bearer \(client.key)"]
            for path in ["/api/feedback", "/api/feedback/\(id)", "/api/privacy/export?email=a%40b.example", "/api/audit"] {
                let answer = try await server.request("GET", path, headers: auth)
                #expect(answer.status == 200, "\(path)")
                #expect(answer.header("Cache-Control") == "no-store", "\(path)")
            }
        }
    }

    @Test func oneClientCannotSeeOrDeleteAnothersFeedback() async throws {
        try await TestServer.run { server in
            let alice = try await server.createClient()
            let bob = try await server.createClient()
            let posted = try await server.postJSON("/api/feedback", #"{"clientId":"\#(alice.id)","comment":"private"}"#)
            let id = try #require(posted.json["feedbackId"] as? String)
            let asBob = ["Authorization": "Bearer \(bob.key)"]
            #expect(try await server.request("GET", "/api/feedback/\(id)", headers: asBob).status == 404)
            #expect(try await server.request("DELETE", "/api/feedback/\(id)", headers: asBob).status == 404)
            let list = try await server.request("GET", "/api/feedback", headers: asBob)
            #expect((list.json["items"] as? [Any])?.isEmpty == true)
            #expect(try await server.count("feedback") == 1)
        }
    }

    @Test(.enabled(if: !TestBackend.usesPostgres, TestBackend.sqliteOnly)) func deleteRemovesTheItemAndItsScreenshotFile() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            var form = MultipartBody()
            form.field("clientId", client.id)
            form.file("screenshot", fileName: "bug.png", type: "image/png", Images.png())
            let upload = try await server.request(
                "POST", "/api/screenshots", headers: ["Content-Type": form.contentType], body: form.finished())
            #expect(upload.status == 200)
            let shot = try #require(upload.json["screenshot"] as? [String: Any])
            let shotJSON = String(decoding: try JSONSerialization.data(withJSONObject: shot), as: UTF8.self)
            let posted = try await server.postJSON(
                "/api/feedback", #"{"clientId":"\#(client.id)","comment":"see image","screenshots":[\#(shotJSON)]}"#)
            let id = try #require(posted.json["feedbackId"] as? String)
            let fileName = try #require(shot["fileName"] as? String)
            let path = try #require(server.parts.files.url(for: fileName)).path
            #expect(FileManager.default.fileExists(atPath: path))

            let deleted = try await server.request("DELETE", "/api/feedback/\(id)", headers: ["Authorization": "Bearer \(client.key)"])
            #expect(deleted.status == 204)
            #expect(try await server.request("GET", "/api/feedback/\(id)", headers: ["Authorization": "Bearer \(client.key)"]).status == 404)
            #expect(!FileManager.default.fileExists(atPath: path))
            #expect(try await server.request("GET", "/api/screenshots/\(fileName)").status == 404)
            #expect(try await server.count("file_deletion") == 0)
        }
    }

    /// A widget that sends a submission again after its answer was lost makes two items naming one upload.
    /// Deleting either leaves the screenshot the other shows; deleting both takes it. Through HTTP only, so it runs
    /// on each backend.
    @Test func aScreenshotTwoItemsNameStaysUntilBothAreDeleted() async throws {
        try await TestServer.run { server in
            let client = try await server.createClient()
            let auth = ["Authorization": "Bearer \(client.key)"]
            let shot = try await AccountClosureTests.upload(server, clientID: client.id)
            let url = try #require(shot["url"] as? String)
            let path = try #require(URLComponents(string: url)?.path)
            let shotJSON = String(decoding: try JSONSerialization.data(withJSONObject: shot), as: UTF8.self)
            let body = #"{"clientId":"\#(client.id)","comment":"see image","screenshots":[\#(shotJSON)]}"#
            let first = try #require(try await server.postJSON("/api/feedback", body).json["feedbackId"] as? String)
            let again = try #require(try await server.postJSON("/api/feedback", body).json["feedbackId"] as? String)

            #expect(try await server.request("DELETE", "/api/feedback/\(first)", headers: auth).status == 204)
            let kept = try await server.request("GET", "/api/feedback/\(again)", headers: auth)
            #expect(((kept.json["screenshots"] as? [[String: Any]])?.first?["url"] as? String) == url)
            let served = try await server.request("GET", path)
            #expect(served.status == 200)
            #expect(served.body == AccountClosureTests.png)

            #expect(try await server.request("DELETE", "/api/feedback/\(again)", headers: auth).status == 204)
            #expect(try await server.request("GET", path).status == 404)
        }
    }
}
