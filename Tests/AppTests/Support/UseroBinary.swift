import Foundation
import Testing

/// The built `usero` executable, run as a user would run it.
enum UseroBinary {
    /// The executable beside the test bundle (`swift build` puts both in the same folder).
    static func url() throws -> URL {
        let bundleFolder = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let candidates = [bundleFolder, bundleFolder.deletingLastPathComponent()].map {
            $0.appendingPathComponent("usero")
        }
        return try #require(candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) },
                            "build the usero executable first (swift build)")
    }

    struct Outcome {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs `usero ARGS` to completion with `environment` added to a minimal one; killed after `timeout` seconds.
    static func run(_ arguments: [String], environment: [String: String], timeout: Double = 30) throws -> Outcome {
        let process = Process()
        process.executableURL = try url()
        process.arguments = arguments
        process.environment = ["PATH": "/usr/bin:/bin"].merging(environment) { $1 }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let watchdog = DispatchWorkItem { if process.isRunning { process.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: watchdog)
        defer { watchdog.cancel() }
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Outcome(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                       stderr: String(decoding: stderr, as: UTF8.self))
    }
}
