import Foundation
import Testing

@testable import usero

/// `GET /openapi.json` describes exactly the routes the router serves: neither can drift from the other.
@Suite struct OpenAPITests {
    static let methods = ["get", "put", "post", "delete", "options", "head", "patch"]

    /// `METHOD /path/{param}` for every operation in the document.
    static func operations(in document: [String: Any]) -> Set<String> {
        let paths = document["paths"] as? [String: [String: Any]] ?? [:]
        var result = Set<String>()
        for (path, item) in paths {
            for method in methods where item[method] != nil { result.insert("\(method.uppercased()) \(path)") }
        }
        return result
    }

    static func documentRoutesMatchTheRouter(_ server: TestServer) async throws {
        let served = try await server.request("GET", "/openapi.json")
        #expect(served.status == 200)
        #expect(served.header("Content-Type")?.hasPrefix("application/json") == true)
        let document = try #require(try JSONSerialization.jsonObject(with: served.body) as? [String: Any])
        #expect(document["openapi"] as? String == "3.1.0")
        let described = operations(in: document)
        let routed = Set(server.parts.routes)
        #expect(routed.count > 30)
        #expect(routed.subtracting(described).sorted() == [], "routes without a description in OpenAPIDocument")
        #expect(described.subtracting(routed).sorted() == [], "described operations the router does not serve")
    }

    @Test func theDescriptionMatchesTheRouterWithoutSlack() async throws {
        try await TestServer.run { server in try await Self.documentRoutesMatchTheRouter(server) }
    }

    @Test func theDescriptionMatchesTheRouterWithSlack() async throws {
        try await withFakeSlack { _, api in
            try await TestServer.run(configure: { SlackTestSettings.configure(&$0, fakeURL: api) }) { server in
                try await Self.documentRoutesMatchTheRouter(server)
            }
        }
    }

    /// No path or schema is described twice: JSON parsers keep one of two equal keys silently, so a merge that
    /// appends a second description of a route would otherwise go unnoticed.
    @Test func noPathOrSchemaIsDescribedTwice() {
        // The document is indented one space per level: paths are the keys at depth 2 that start with `/`, schemas
        // the keys at depth 3 below `components.schemas`.
        let lines = OpenAPIDocument.json.split(separator: "\n").map(String.init)
        let schemasStart = lines.firstIndex(of: "  \"schemas\": {") ?? lines.endIndex
        let paths = lines.filter { $0.hasPrefix("  \"/") && $0.hasSuffix("\": {") }
        let schemas = lines[schemasStart...].filter { $0.hasPrefix("   \"") && $0.hasSuffix("\": {") }
        #expect(paths.count > 30)
        #expect(schemas.count > 10)
        for (keys, what) in [(paths, "paths"), (Array(schemas), "schemas")] {
            let repeated = Dictionary(grouping: keys, by: { $0 }).filter { $0.value.count > 1 }.keys.sorted()
            #expect(repeated == [], "\(what) described twice")
        }
    }

    /// Every `$ref` points at a schema, a response or a header that exists, and every operation says what it answers.
    @Test func everyReferenceResolvesAndEveryOperationHasResponses() throws {
        let document = try #require(
            try JSONSerialization.jsonObject(with: Data(OpenAPIDocument.json.utf8)) as? [String: Any])
        let components = document["components"] as? [String: Any] ?? [:]
        var references: [String] = []
        func walk(_ value: Any) {
            if let object = value as? [String: Any] {
                if let target = object["$ref"] as? String { references.append(target) }
                object.values.forEach(walk)
            } else if let array = value as? [Any] {
                array.forEach(walk)
            }
        }
        walk(document)
        #expect(!references.isEmpty)
        for target in references {
            let parts = target.split(separator: "/").map(String.init)
            #expect(parts.count == 4 && parts[0] == "#" && parts[1] == "components", "\(target)")
            #expect(["schemas", "responses", "headers"].contains(parts.count == 4 ? parts[2] : ""), "\(target)")
            #expect(parts.count == 4 && (components[parts[2]] as? [String: Any])?[parts[3]] != nil, "\(target)")
        }
        for (path, item) in document["paths"] as? [String: [String: Any]] ?? [:] {
            for method in Self.methods {
                guard let operation = item[method] as? [String: Any] else { continue }
                let responses = operation["responses"] as? [String: Any] ?? [:]
                #expect(!responses.isEmpty, "\(method) \(path)")
            }
        }
    }
}
