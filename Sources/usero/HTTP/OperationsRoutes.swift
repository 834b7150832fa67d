import Feedback
import Hummingbird
import Prometheus

/// `/healthz` and `/metrics`.
struct OperationsRoutes<Context: RequestContext>: Sendable {
    let health: any StoreHealth
    let registry: PrometheusCollectorRegistry

    func register(on router: Router<Context>) {
        router.get("healthz") { _, _ -> Response in
            if await health.isHealthy() {
                return JSONResponse.make(["status": "ok"])
            }
            return JSONResponse.make(["status": "unavailable"], status: .serviceUnavailable)
        }
        router.get("metrics") { _, _ -> Response in
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            var text = registry.emitToBuffer()
            let stats = health.commitStatistics
            text += Array("""
                # TYPE usero_store_commits_total counter
                usero_store_commits_total \(stats.commits)
                # TYPE usero_store_writes_total counter
                usero_store_writes_total \(stats.writes)

                """.utf8)
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: text)))
        }
    }
}
