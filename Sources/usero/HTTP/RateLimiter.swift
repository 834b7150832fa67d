import Synchronization

/// Token buckets in memory, one per key, in a table of bounded size.
///
/// Each key may spend `perMinute` requests at once and earns them back at `perMinute / 60` a second, so the long-run
/// rate is `perMinute` a minute. A bucket that has filled up again is the same as no bucket, so it is dropped first
/// when the table is full; if every bucket is still in use, the tenth least recently used go (an attacker who owns
/// that many keys is already past what a per-key limit can stop). Nothing here is ever written anywhere.
final class RateLimiter: Sendable {
    /// Requests a key may make per minute (and at once, from a full bucket).
    let perMinute: Int
    /// Most keys held at once.
    let capacity: Int
    /// Keys longer than this are cut, so a key costs bounded memory.
    static let maxKeyBytes = 128

    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    private let buckets = Mutex<[String: Bucket]>([:])
    /// The time source when `admit` is not handed one.
    private let clock: @Sendable () -> ContinuousClock.Instant

    init(perMinute: Int, capacity: Int = 50_000, clock: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) {
        precondition(perMinute > 0 && capacity > 0)
        self.perMinute = perMinute
        self.capacity = capacity
        self.clock = clock
    }

    private var refillPerSecond: Double { Double(perMinute) / 60 }

    /// Spends one request of `key`'s allowance: nil when allowed, else the whole seconds (at least 1) until the next
    /// request would be.
    func admit(_ key: String, now: ContinuousClock.Instant? = nil) -> Int? {
        let now = now ?? clock()
        let key = Self.bounded(key)
        let limit = Double(perMinute)
        let rate = refillPerSecond
        return buckets.withLock { table -> Int? in
            var bucket: Bucket
            if let held = table[key] {
                bucket = held
                let elapsed = (now - held.updated).inSeconds
                bucket.tokens = min(limit, held.tokens + max(0, elapsed) * rate)
            } else {
                if table.count >= capacity { Self.makeRoom(in: &table, capacity: capacity, limit: limit, rate: rate, now: now) }
                bucket = Bucket(tokens: limit, updated: now)
            }
            bucket.updated = now
            guard bucket.tokens >= 1 else {
                table[key] = bucket
                return max(1, Int(((1 - bucket.tokens) / rate).rounded(.up)))
            }
            bucket.tokens -= 1
            table[key] = bucket
            return nil
        }
    }

    /// Gives back one request `admit` spent for `key` (one whose request came to nothing), up to the full allowance.
    func refund(_ key: String, now: ContinuousClock.Instant = .now) {
        let key = Self.bounded(key)
        let limit = Double(perMinute)
        let rate = refillPerSecond
        buckets.withLock { table in
            guard var bucket = table[key] else { return }
            bucket.tokens = min(limit, bucket.tokens + max(0, (now - bucket.updated).inSeconds) * rate + 1)
            bucket.updated = now
            table[key] = bucket
        }
    }

    /// `key`, cut to `maxKeyBytes`.
    private static func bounded(_ key: String) -> String {
        key.utf8.count > maxKeyBytes ? String(decoding: key.utf8.prefix(maxKeyBytes), as: UTF8.self) : key
    }

    /// Keys held now (tests).
    var count: Int { buckets.withLock { $0.count } }

    private static func makeRoom(
        in table: inout [String: Bucket], capacity: Int, limit: Double, rate: Double, now: ContinuousClock.Instant
    ) {
        table = table.filter { $0.value.tokens + max(0, (now - $0.value.updated).inSeconds) * rate < limit }
        guard table.count >= capacity else { return }
        let stalest = table.sorted { $0.value.updated < $1.value.updated }.prefix(table.count / 10 + 1)
        for (key, _) in stalest { table[key] = nil }
    }
}

extension Duration {
    /// The duration in seconds, as `Thread.sleep` and rate arithmetic take it.
    var inSeconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
