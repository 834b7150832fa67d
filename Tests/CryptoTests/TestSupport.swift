import Foundation
import Testing
import UseroCrypto
import UseroTestSupport

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
    let (status, output, errors) = try ChildProcess.run("/usr/bin/env", [tool] + arguments, input: Data(input))
    #expect(status == 0, "\(tool) exited \(status): \(String(decoding: errors, as: UTF8.self))")
    return String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
}
