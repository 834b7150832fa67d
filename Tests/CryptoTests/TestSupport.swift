import Foundation
import Testing
import UseroCrypto

extension SecretBytes {
    /// The contents as an ordinary array: fine in tests, never in the module.
    var bytesForTesting: [UInt8] { withUnsafeBytes { Array($0) } }
}

/// Decodes hex typed into a test, failing the test (not crashing) on a typo.
func hex(_ string: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [UInt8] {
    try #require(Hex.decode(string), "not hex: \(string)", sourceLocation: sourceLocation)
}

/// A fresh random 32-byte AES key.
func randomKey() throws -> SecretBytes {
    try SecretBytes.random(count: AESGCM.keySize)
}

/// Runs a tool found on PATH, feeding `input` to stdin, and returns its trimmed stdout; fails on a non-zero exit.
func runTool(_ tool: String, _ arguments: [String], input: [UInt8] = []) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [tool] + arguments
    let stdin = Pipe()
    let stdout = Pipe()
    let stderr = Pipe()
    process.standardInput = stdin
    process.standardOutput = stdout
    process.standardError = stderr
    try process.run()
    try stdin.fileHandleForWriting.write(contentsOf: Data(input))
    try stdin.fileHandleForWriting.close()
    let output = stdout.fileHandleForReading.readDataToEndOfFile()
    let errors = stderr.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    #expect(
        process.terminationStatus == 0,
        "\(tool) exited \(process.terminationStatus): \(String(decoding: errors, as: UTF8.self))"
    )
    return String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
}
