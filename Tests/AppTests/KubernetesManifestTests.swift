import Foundation
import Testing
import UseroTestSupport
@testable import usero

/// manifests/kubernetes agrees with the code: the port `serve` listens on, the health path, the variables it reads
/// and the Secret keys the Deployment refers to.
@Suite struct KubernetesManifestTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func text(_ path: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
    }

    /// `key: value` pairs of a block-YAML file in order, keyed by their indentation-free key (comments dropped).
    static func pairs(_ text: String) -> [(key: String, value: String)] {
        text.split(separator: "\n").compactMap { raw -> (String, String)? in
            guard !raw.trimmingCharacters(in: .whitespaces).hasPrefix("#") else { return nil }
            var line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("- ") { line.removeFirst(2) }
            guard let colon = line.firstIndex(of: ":") else { return nil }
            let key = String(line[..<colon])
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                .trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            return (key, value)
        }
    }

    /// Every variable name `AppConfig.load` reads, found in its source.
    static func variablesTheCodeReads() throws -> Set<String> {
        let source = try text("Sources/usero/AppConfig.swift")
        let pattern = try NSRegularExpression(pattern: #"(?:value|whole)\("([A-Z][A-Z0-9_]+)""#)
        let range = NSRange(source.startIndex..., in: source)
        return Set(pattern.matches(in: source, range: range).compactMap { match in
            Range(match.range(at: 1), in: source).map { String(source[$0]) }
        }).union(["LOG_LEVEL"])
    }

    @Test func theDeploymentRunsThreeReplicasOnThePortAndHealthPathOfTheCode() throws {
        let pairs = Self.pairs(try Self.text("manifests/kubernetes/usero.yaml"))
        func values(_ key: String) -> [String] { pairs.filter { $0.key == key }.map(\.value) }
        #expect(values("replicas") == ["3"])
        let port = String(AppConfig().port)
        #expect(values("containerPort") == [port])
        #expect(values("targetPort") == [port])
        // Readiness asks the route the service answers; liveness (and startup) only the port, so that a database
        // outage, which /healthz reports, takes pods out of the Service without restarting them all.
        #expect(values("path") == ["/healthz"])
        let text = try Self.text("manifests/kubernetes/usero.yaml")
        let liveness = try #require(text.range(of: "livenessProbe:"))
        #expect(text[liveness.upperBound...].drop { $0.isWhitespace }.hasPrefix("tcpSocket:"))
        #expect(text.contains("startupProbe:"))
        // A pod that starts while the database is down waits for it rather than exiting.
        let waitIndex = try #require(pairs.firstIndex { $0.key == "name" && $0.value == "USERO_DATABASE_WAIT_SECONDS" })
        #expect(Int(pairs[waitIndex + 1].value).map { $0 > 0 } == true)
        #expect(try Self.text("Sources/usero/HTTP/OperationsRoutes.swift").contains(#"router.get("healthz")"#))
        #expect(values("port").filter { $0 != "80" }.allSatisfy { $0 == port })
        // The USERO_PORT given equals the containerPort.
        let portIndex = try #require(pairs.firstIndex { $0.key == "name" && $0.value == "USERO_PORT" })
        #expect(pairs[portIndex + 1] == (key: "value", value: port))
        // Graceful termination: time to drain.
        let grace = try #require(Int(values("terminationGracePeriodSeconds").first ?? ""))
        #expect(grace >= 20)
    }

    @Test func everyVariableIsOneTheCodeReadsAndEverySecretKeyExists() throws {
        let deployment = Self.pairs(try Self.text("manifests/kubernetes/usero.yaml"))
        let secret = Self.pairs(try Self.text("manifests/kubernetes/usero-secret.example.yaml"))
        let read = try Self.variablesTheCodeReads()
        #expect(read.contains("USERO_DATABASE") && read.contains("USERO_TOKEN_KEY"))
        let names = Set(deployment.filter { $0.key == "name" && $0.value.uppercased() == $0.value }.map(\.value))
        #expect(!names.isEmpty)
        #expect(names.subtracting(read).isEmpty, "not read by usero: \(names.subtracting(read).sorted())")
        // What several instances must share is given to every pod.
        #expect(names.isSuperset(of: ["USERO_DATABASE", "USERO_TOKEN_KEY", "SLACK_SIGNING_SECRET", "USERO_DATA_DIR"]))
        // Each secretKeyRef names a key of the Secret template, and the template holds nothing the pods ignore.
        let referenced = Set(deployment.filter { $0.key == "key" }.map(\.value))
        let stringData = secret.drop { $0.key != "stringData" }.dropFirst()
        let provided = Set(stringData.map(\.key))
        #expect(referenced == provided)
        #expect(provided.subtracting(read).isEmpty)
        #expect(secret.contains { $0.key == "name" && $0.value == "usero" })
        #expect(deployment.filter { $0.key == "name" && $0.value == "usero" }.count >= 3)
    }

    /// The environment examples of manifests/ give each variable the same value whichever reads them: systemd's
    /// `EnvironmentFile`, which takes a value's single quotes off, and the shell the README has an operator load
    /// them with before a command (`set -a; . FILE; set +a`), where an unquoted `&` would leave the variable unset.
    @Test func theEnvironmentExamplesReadTheSameInTheShellAsUnderSystemd() throws {
        let read = try Self.variablesTheCodeReads()
        for file in ["manifests/usero.env.example", "manifests/usero-postgres.env.example"] {
            var expected: [String: String] = [:]
            for line in try Self.text(file).split(separator: "\n") where !line.hasPrefix("#") && line.contains("=") {
                let name = String(line.prefix { $0 != "=" })
                var value = String(line.dropFirst(name.count + 1))
                if value.count >= 2, value.hasPrefix("'"), value.hasSuffix("'") {
                    value = String(value.dropFirst().dropLast())
                } else {
                    #expect(
                        value.allSatisfy { $0.isLetter || $0.isNumber || "/:.@_-".contains($0) },
                        "\(file): \(name) wants single quotes")
                }
                expected[name] = value
            }
            #expect(expected["USERO_DATABASE"] != nil, "\(file)")
            #expect(Set(expected.keys).subtracting(read).isEmpty, "\(file)")
            let path = Self.root.appendingPathComponent(file).path
            let shell = try ChildProcess.run(
                "/bin/bash", ["-c", #"set -a; . "$1"; set +a; env -0"#, "bash", path], environment: [:])
            #expect(shell.status == 0, "\(String(decoding: shell.stderr, as: UTF8.self))")
            let loaded = Dictionary(
                String(decoding: shell.stdout, as: UTF8.self).split(separator: "\0").map { pair in
                    (String(pair.prefix { $0 != "=" }), String(pair.drop { $0 != "=" }.dropFirst()))
                }, uniquingKeysWith: { $1 })
            for (name, value) in expected { #expect(loaded[name] == value, "\(file): \(name)") }
        }
    }
}
