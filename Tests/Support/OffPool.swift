import Foundation

/// Runs blocking work (waiting for a child process, reading its pipes) on a thread of its own. Swift's cooperative
/// pool has one thread per core, two on this machine: a test that blocks one halves what every other test in the
/// process gets, and two such tests stall them all (timing bounds of unrelated tests then fail under load).
public func offPool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try work() }) }
    }
}

/// Waits for `process` to end off the cooperative pool; its exit status, or 128 + the signal that ended it.
@discardableResult
public func waitForExit(_ process: ChildProcess) async -> Int32 {
    await withCheckedContinuation { continuation in
        Thread.detachNewThread { continuation.resume(returning: process.waitForExit()) }
    }
}
