import Foundation
import Hummingbird
import Logging

// usero-floor: the benchmarks' floor. A bare Hummingbird application with usero's server configuration (HTTP/1.1,
// loopback, the same server name) answering `GET /healthz` with a constant, so every benchmark can print its figure
// as a ratio to what the framework itself does on the same machine in the same run. No middleware, no store.
// `POST /ingest` reads a body and answers 200: the framework's floor for requests that carry one.
//
//     usero-floor [--port N]        (or USERO_PORT; default 8081)

let arguments = CommandLine.arguments
let environment = ProcessInfo.processInfo.environment
var port = environment["USERO_PORT"].flatMap(Int.init) ?? 8081
if let index = arguments.firstIndex(of: "--port"), index + 1 < arguments.count, let value = Int(arguments[index + 1]) {
    port = value
}
let host = environment["USERO_HOST"].flatMap { $0.isEmpty ? nil : $0 } ?? "127.0.0.1"

var logger = Logger(label: "usero-floor") { StreamLogHandler.standardError(label: $0) }
logger.logLevel = .warning

let body = ByteBuffer(string: #"{"status":"ok"}"#)
var headers = HTTPFields()
headers[.contentType] = "application/json; charset=utf-8"
let constantHeaders = headers

let router = Router()
router.get("healthz") { _, _ in Response(status: .ok, headers: constantHeaders, body: .init(byteBuffer: body)) }
// The framework's own cost of a request that carries a body: read it whole (up to 1 MB, usero's limit for JSON and
// Slack bodies), answer 200 with nothing. The benchmarks compare usero's POST routes with this too.
router.post("ingest") { request, _ in
    _ = try await request.body.collect(upTo: 1 << 20)
    return Response(status: .ok)
}

let app = Application(
    router: router,
    configuration: .init(address: .hostname(host, port: port), serverName: "usero"),
    logger: logger)
try await app.runService()
