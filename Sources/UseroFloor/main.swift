import Foundation
import Hummingbird
import Logging

// usero-floor: the benchmarks' floor. A bare Hummingbird application with usero's server configuration (HTTP/1.1,
// loopback, the same server name) answering `GET /healthz` with a constant, so every benchmark can print its figure
// as a ratio to what the framework itself does on the same machine in the same run. No middleware, no store.
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

let app = Application(
    router: router,
    configuration: .init(address: .hostname(host, port: port), serverName: "usero"),
    logger: logger)
try await app.runService()
