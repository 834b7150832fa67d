import Synchronization

/// Work waiting to be done in batches, drained by up to `lanes` concurrent loops: while one lane waits for its
/// batch's commit to reach disk, another fills its next batch, and PostgreSQL flushes the commits that arrive
/// together once. Under light load an element rides alone (no added latency); under load, batches grow up to
/// `maxBatch`.
final class LaneQueue<Element: Sendable>: Sendable {
    private struct State: ~Copyable {
        var pending: [Element] = []
        var head = 0
        var lanes = 0
    }

    private let maxLanes: Int
    private let maxBatch: Int
    private let state = Mutex(State())

    init(lanes: Int, maxBatch: Int) {
        self.maxLanes = max(1, lanes)
        self.maxBatch = max(1, maxBatch)
    }

    /// Elements queued and not yet taken by a lane.
    var waiting: Int { state.withLock { $0.pending.count - $0.head } }

    /// Queues `element`; when fewer than `lanes` loops run, starts one that passes batches to `drain` until the
    /// queue is empty.
    func submit(_ element: Element, drain: @escaping @Sendable ([Element]) async -> Void) {
        submit(element) { next in
            while let batch = next() { await drain(batch) }
        }
    }

    /// Queues `element`; when fewer than `lanes` loops run, starts one that runs `session` with a function that
    /// takes the next batch: nil once the queue is empty, which ends the lane (the session must then return, and
    /// not call it again). A session can so keep what each batch needs (a connection) from one batch to the next,
    /// for as long as work keeps coming.
    func submit(
        _ element: Element,
        session: @escaping @Sendable (_ next: () -> [Element]?) async -> Void
    ) {
        let startLane = state.withLock { state -> Bool in
            state.pending.append(element)
            guard state.lanes < maxLanes else { return false }
            state.lanes += 1
            return true
        }
        if startLane { Task { await session(self.nextBatch) } }
    }

    /// The next batch of a lane, or nil when nothing waits: the lane has then ended.
    private func nextBatch() -> [Element]? {
        state.withLock { state -> [Element]? in
            let available = state.pending.count - state.head
            guard available > 0 else {
                state.lanes -= 1
                state.pending.removeAll(keepingCapacity: true)
                state.head = 0
                return nil
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
    }
}
