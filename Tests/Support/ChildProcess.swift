public import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A command run by a test, started with `posix_spawn` and reaped with `waitpid`.
///
/// Not Foundation's `Process`: on Linux its `run()` lists `/proc/self/fd` and copies each entry's name as a whole
/// 256-byte array, reading past the end of the directory buffer. In a test process holding over a thousand
/// descriptors (many servers, databases and connections at once) that read once crashed the whole run (SIGSEGV in
/// `memmove`, an entry named "1359" in hand). It also adds a close action per open descriptor to every spawn, and its
/// `waitUntilExit` has been seen to hang here with the child gone. A child here inherits only its three standard
/// descriptors: one `closefrom` action closes the rest.
public final class ChildProcess: @unchecked Sendable {
    /// Where a standard stream of the child goes.
    public enum Stream: Sendable {
        /// `/dev/null`.
        case null
        /// A pipe to this process (`input`, `output` or `errors`).
        case pipe
        /// A file, created or truncated (appended to for standard error, so two streams can share it).
        case file(String)
    }

    public let pid: pid_t
    /// The write end of the child's standard input, when it is `.pipe`.
    public let input: FileHandle?
    /// The read end of the child's standard output, when it is `.pipe`.
    public let output: FileHandle?
    /// The read end of the child's standard error, when it is `.pipe`.
    public let errors: FileHandle?

    private let lock = NSLock()
    private var status: Int32?

    /// Starts `executable` (a path) with `arguments`; `environment` nil passes this process's on.
    public init(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil,
        stdin: Stream = .null, stdout: Stream = .null, stderr: Stream = .null
    ) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // Our ends of the pipes; the child's ends are closed here once it has them.
        var ours: [Int32?] = [nil, nil, nil]
        var theirs: [Int32] = []
        defer { for fd in theirs { close(fd) } }
        for (fd, stream) in [stdin, stdout, stderr].enumerated() {
            switch stream {
            case .null:
                posix_spawn_file_actions_addopen(&actions, Int32(fd), "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0)
            case .file(let path):
                let flags = fd == 0 ? O_RDONLY : O_WRONLY | O_CREAT | (fd == 2 ? O_APPEND : O_TRUNC)
                posix_spawn_file_actions_addopen(&actions, Int32(fd), path, flags, 0o600)
            case .pipe:
                var ends: [Int32] = [-1, -1]
                guard pipe(&ends) == 0 else { throw SpawnError(code: errno) }
                // Close-on-exec, so a child spawned elsewhere meanwhile does not hold this pipe open.
                for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
                let (child, parent) = fd == 0 ? (ends[0], ends[1]) : (ends[1], ends[0])
                theirs.append(child)
                ours[fd] = parent
                posix_spawn_file_actions_adddup2(&actions, child, Int32(fd))
            }
        }
        _ = Self.addCloseFrom(&actions, 3)
        let argv = [executable] + arguments
        var cArguments = argv.map { strdup($0) } + [nil]
        defer { for pointer in cArguments { free(pointer) } }
        let variables = environment ?? ProcessInfo.processInfo.environment
        var cEnvironment = variables.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for pointer in cEnvironment { free(pointer) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, nil, &cArguments, &cEnvironment)
        guard spawned == 0 else {
            for fd in ours.compactMap({ $0 }) { close(fd) }
            throw SpawnError(code: spawned)
        }
        self.pid = pid
        input = ours[0].map { FileHandle(fileDescriptor: $0, closeOnDealloc: true) }
        output = ours[1].map { FileHandle(fileDescriptor: $0, closeOnDealloc: true) }
        errors = ours[2].map { FileHandle(fileDescriptor: $0, closeOnDealloc: true) }
    }

    /// Whether the child is still running; one that has ended is reaped here.
    public var isRunning: Bool {
        lock.withLock {
            guard status == nil else { return false }
            var raw: Int32 = 0
            let reaped = waitpid(pid, &raw, WNOHANG)
            if reaped == pid { status = Self.status(raw) }
            // -1: another thread's `waitForExit` reaped it.
            return reaped == 0
        }
    }

    /// Sends `signal` to the child unless it has been reaped (its pid may then be another process's).
    public func send(_ signal: Int32) {
        lock.withLock { if status == nil { _ = kill(pid, signal) } }
    }

    /// Waits for the child to end (blocking the calling thread); its exit status, or 128 + the signal that ended it.
    @discardableResult
    public func waitForExit() -> Int32 {
        if let status = lock.withLock({ status }) { return status }
        var raw: Int32 = 0
        var reaped: pid_t
        repeat { reaped = waitpid(pid, &raw, 0) } while reaped == -1 && errno == EINTR
        return lock.withLock {
            // When `isRunning` reaped it meanwhile, the status is already here.
            if status == nil { status = reaped == pid ? Self.status(raw) : -1 }
            return status!
        }
    }

    private static func status(_ raw: Int32) -> Int32 {
        let signalled = raw & 0x7f
        return signalled == 0 ? (raw >> 8) & 0xff : 128 + signalled
    }

    /// Runs `executable` to its end with `input` on its standard input; its status (as `waitForExit`), standard
    /// output and standard error. Killed after `timeout` seconds. Blocks the calling thread.
    public static func run(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil, input: Data? = nil,
        timeout: Double = 60
    ) throws -> (status: Int32, stdout: Data, stderr: Data) {
        let child = try ChildProcess(
            executable, arguments, environment: environment, stdin: input == nil ? .null : .pipe, stdout: .pipe,
            stderr: .pipe)
        let watchdog = DispatchWorkItem { child.send(SIGKILL) }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: watchdog)
        defer { watchdog.cancel() }
        // Standard error is read beside standard output, so a child filling either pipe never waits on the other.
        let errors = ByteCollector()
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) { errors.set(child.errors!.readDataToEndOfFile()) }
        if let input, let handle = child.input {
            // A child that stops reading early closes its end: the write's EPIPE must not kill this process.
            signal(SIGPIPE, SIG_IGN)
            try? handle.write(contentsOf: input)
            try? handle.close()
        }
        let stdout = child.output!.readDataToEndOfFile()
        group.wait()
        return (child.waitForExit(), stdout, errors.data)
    }

    /// posix_spawn_file_actions_addclosefrom_np (glibc 2.34+), which Swift's Glibc module does not declare.
    private static let addCloseFrom: @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32 = {
        guard let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else {
            fatalError("posix_spawn_file_actions_addclosefrom_np is missing: glibc 2.34 or later is needed")
        }
        return unsafeBitCast(
            symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
    }()

    struct SpawnError: Error, CustomStringConvertible {
        var code: Int32
        var description: String { "posix_spawn failed: \(String(cString: strerror(code)))" }
    }
}

/// Bytes handed from one thread to another.
private final class ByteCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var bytes = Data()
    func set(_ data: Data) { lock.withLock { bytes = data } }
    var data: Data { lock.withLock { bytes } }
}
