import Feedback
import Hummingbird
import Prometheus
import Synchronization

/// `/healthz` and `/metrics`.
struct OperationsRoutes<Context: RequestContext>: Sendable {
    let store: any StoreHealth
    let registry: PrometheusCollectorRegistry
    let health: HealthCheck
    /// How long `/healthz` waits for the store before answering 503: longer than the cache period, so a store that is
    /// merely slow on a loaded machine (a reader connection opened on the first call) still answers 200.
    static var healthTimeout: Duration { .seconds(5) }

    init(health store: any StoreHealth, registry: PrometheusCollectorRegistry) {
        self.store = store
        self.registry = registry
        health = HealthCheck(timeout: Self.healthTimeout) { await store.isHealthy() }
    }

    func register(on router: Router<Context>) {
        let health = self.health
        let store = self.store
        // The first check opens a reader connection: do it now, so the first /healthz after start-up finds an answer.
        Task { _ = await health.isHealthy() }
        router.get("healthz") { _, _ -> Response in
            await health.isHealthy() ? HealthAnswer.ok : HealthAnswer.unavailable
        }
        router.get("metrics") { _, _ -> Response in
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            var text = registry.emitToBuffer()
            let stats = store.commitStatistics
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

/// The two `/healthz` answers, made once (a copy shares their header and body storage).
private enum HealthAnswer {
    static let ok = JSONResponse.raw(#"{"status":"ok"}"#)
    static let unavailable = JSONResponse.raw(
        #"{"status":"unavailable","error":"Storage is unavailable"}"#, status: .serviceUnavailable)
}

/// The store's health, asked at most once per `maxAge` however many `/healthz` calls arrive.
///
/// A cached answer is never older than `maxAge` (measured from when its check started); when it is, the next caller
/// starts one check and every caller in the meantime waits for that same check. A caller that has waited `timeout`
/// (by default `maxAge`) is answered "unhealthy", so a store that hangs shows as 503 within `timeout`.
final class HealthCheck: Sendable {
    private struct State {
        var healthy = false
        var checkedAt: ContinuousClock.Instant?
        var inFlight: Task<Bool, Never>?
    }

    private let state = Mutex(State())
    private let maxAge: Duration
    private let timeout: Duration
    private let probe: @Sendable () async -> Bool
    private let now: @Sendable () -> ContinuousClock.Instant

    /// `now` tells the age of an answer (the tests' own clock; the timeout is always real time).
    init(
        maxAge: Duration = .seconds(1), timeout: Duration? = nil,
        now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now },
        probe: @escaping @Sendable () async -> Bool
    ) {
        self.maxAge = maxAge
        self.timeout = timeout ?? maxAge
        self.now = now
        self.probe = probe
    }

    func isHealthy() async -> Bool {
        let now = self.now()
        let pending: Task<Bool, Never>? = state.withLock { state in
            if let at = state.checkedAt, now - at < maxAge { return nil }
            if let running = state.inFlight { return running }
            let probe = self.probe
            let started = now
            let task = Task { () -> Bool in
                let healthy = await probe()
                self.state.withLock { state in
                    state.healthy = healthy
                    state.checkedAt = started
                    state.inFlight = nil
                }
                return healthy
            }
            state.inFlight = task
            return task
        }
        guard let pending else { return state.withLock { $0.healthy } }
        // Wait for the check, but no longer than timeout: a hanging store answers "unhealthy" meanwhile.
        let answer = Once()
        return await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let timer = Task { [timeout] in
                try? await Task.sleep(for: timeout)
                if answer.claim() { continuation.resume(returning: false) }
            }
            Task {
                let healthy = await pending.value
                if answer.claim() {
                    timer.cancel()
                    continuation.resume(returning: healthy)
                }
            }
        }
    }
}

/// True for the first caller of `claim()` only.
private final class Once: Sendable {
    private let claimed = Atomic<Bool>(false)
    func claim() -> Bool { claimed.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged }
}
