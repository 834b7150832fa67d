import Synchronization

/// Work waiting to be done in batches, drained by up to `lanes` concurrent loops: while one lane waits for its
/// batch's commit to reach disk, another fills its next batch, and PostgreSQL flushes the commits that arrive
/// together once. Under light load an element rides alone (no added latency); under load, batches grow up to
/// `maxBatch`.
///
/// With `maxWait`, an element no lane has taken within that time is handed to `expired` instead (nothing of it was
/// sent): behind a batch whose statement hangs on a server that stopped answering, requests would otherwise wait for
/// that statement's timeout and then their own lease. A sweep once a second finds them by their numbers, which only
/// grow (nothing is recorded per element, as in `ConnectionWatch`).
final class LaneQueue<Element: Sendable>: Sendable {
    private struct State: ~Copyable {
        var pending: [Element] = []
        var head = 0
        var lanes = 0
        /// How many elements were ever queued: the element at `pending[i]` is number `queued - pending.count + i`.
        var queued = 0
    }

    private let maxLanes: Int
    private let maxBatch: Int
    private let state = Mutex(State())

    init(lanes: Int, maxBatch: Int, maxWait: Duration? = nil, expired: @escaping @Sendable (Element) -> Void = { _ in }) {
        self.maxLanes = max(1, lanes)
        self.maxBatch = max(1, maxBatch)
        if let maxWait { sweep(every: .seconds(1), maxWait: maxWait, expired: expired) }
    }

    /// Elements queued and not yet taken by a lane.
    var waiting: Int { state.withLock { $0.pending.count - $0.head } }

    /// Queues `element`; when fewer than `lanes` loops run, starts one that passes batches to `drain` until the
    /// queue is empty.
    func submit(_ element: Element, drain: @escaping @Sendable ([Element]) async -> Void) {
        let startLane = state.withLock { state -> Bool in
            state.pending.append(element)
            state.queued += 1
            guard state.lanes < maxLanes else { return false }
            state.lanes += 1
            return true
        }
        if startLane { Task { await self.lane(drain) } }
    }

    private func lane(_ drain: @Sendable ([Element]) async -> Void) async {
        while true {
            let batch = state.withLock { state -> [Element] in
                let available = state.pending.count - state.head
                guard available > 0 else {
                    state.lanes -= 1
                    state.pending.removeAll(keepingCapacity: true)
                    state.head = 0
                    return []
                }
                let count = min(available, maxBatch)
                let batch = Array(state.pending[state.head..<state.head + count])
                state.head += count
                // Compact now and then so that the queue does not grow without bound under steady load.
                if state.head >= 4096 {
                    state.pending.removeFirst(state.head)
                    state.head = 0
                }
                return batch
            }
            if batch.isEmpty { return }
            await drain(batch)
        }
    }

    /// Every `interval`, takes out the elements waiting longer than `maxWait` and hands them to `expired`; ends once
    /// the queue is gone.
    private func sweep(every interval: Duration, maxWait: Duration, expired: @escaping @Sendable (Element) -> Void) {
        Task { [weak self] in
            // When each sweep ran, and how many elements had been queued by then; oldest first.
            var marks: [(at: ContinuousClock.Instant, queued: Int)] = []
            while true {
                try? await Task.sleep(for: interval)
                guard let self else { return }
                let now = ContinuousClock.now
                let late = self.state.withLock { state -> [Element] in
                    marks.append((now, state.queued))
                    // The newest mark at least `maxWait` old: elements numbered below it have waited that long.
                    while marks.count > 1, now - marks[1].at >= maxWait { marks.removeFirst() }
                    guard let mark = marks.first, now - mark.at >= maxWait else { return [] }
                    let first = state.queued - state.pending.count
                    let end = min(state.pending.count, max(state.head, mark.queued - first))
                    guard end > state.head else { return [] }
                    let late = Array(state.pending[state.head..<end])
                    state.head = end
                    return late
                }
                for element in late { expired(element) }
            }
        }
    }
}
