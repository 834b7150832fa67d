@testable import Feedback
import Testing

/// The fast header scan (memchr for each LF) must answer exactly what the plain definition answers: every place
/// right after `--BOUNDARY` CR LF, up to the next blank line, has ASCII header names.
@Suite struct MultipartHeaderScanTests {
    /// The definition, written the slow and obvious way (what the scan did before, minus its KMP search).
    static func reference(_ body: [UInt8], boundary: String) -> Bool {
        let opening = Array("--\(boundary)\r\n".utf8)
        func find(_ pattern: [UInt8], from: Int) -> Int? {
            guard from >= 0, body.count >= pattern.count, from <= body.count - pattern.count else { return nil }
            for start in from...(body.count - pattern.count)
            where (0..<pattern.count).allSatisfy({ body[start + $0] == pattern[$0] }) {
                return start
            }
            return nil
        }
        var offset = 0
        while let found = find(opening, from: offset) {
            let start = found + opening.count
            let end = find([13, 10, 13, 10], from: start - 2) ?? body.count
            var lineStart = start
            while lineStart < end {
                let lineEnd = find([13, 10], from: lineStart).map { min($0, end) } ?? end
                var index = lineStart
                while index < lineEnd && body[index] != UInt8(ascii: ":") {
                    if body[index] >= 0x80 { return false }
                    index += 1
                }
                lineStart = lineEnd + 2
            }
            offset = start
        }
        return true
    }

    /// A small deterministic generator (the test must not depend on the run).
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    @Test func theFastScanAgreesWithTheDefinitionOnRandomBodies() {
        var rng = SplitMix(state: 11)
        let pieces: [[UInt8]] = [
            Array("--b\r\n".utf8), Array("--bb\r\n".utf8), Array("\r\n".utf8), Array("\r\n\r\n".utf8), [13], [10],
            Array("-".utf8), Array("b".utf8), Array(":".utf8), Array("x".utf8), [0x80], [0xC3, 0xA9],
        ]
        var disagreements = 0
        var refusals = 0
        for _ in 0..<3_000 {
            var body: [UInt8] = []
            for _ in 0..<Int.random(in: 0...24, using: &rng) { body += pieces.randomElement(using: &rng)! }
            let boundary = Bool.random(using: &rng) ? "b" : "bb"
            let expected = Self.reference(body, boundary: boundary)
            let got = body.withUnsafeBytes { MultipartForm.headersAreASCII($0, boundary: boundary) }
            if got != expected { disagreements += 1 }
            if !expected { refusals += 1 }
        }
        #expect(disagreements == 0)
        // Both answers occur often enough for the comparison to mean something.
        #expect(refusals > 150 && refusals < 2_850)
    }

    @Test func aHeaderNameByteOfOrAbove0x80IsFoundAfterMegabytesOfPartBody() {
        var body = Array("--b\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\n".utf8)
        body += [UInt8](repeating: 0x2D, count: 1024 * 1024)  // dashes: the worst case for a naive search
        body += Array("\r\n--b\r\nX\u{e9}: 1\r\n\r\nv\r\n--b--\r\n".utf8)
        #expect(body.withUnsafeBytes { MultipartForm.headersAreASCII($0, boundary: "b") } == false)
        var fine = body
        let at = fine.firstIndex(of: 0xC3)!
        fine.replaceSubrange(at..<(at + 2), with: Array("e".utf8))
        #expect(fine.withUnsafeBytes { MultipartForm.headersAreASCII($0, boundary: "b") } == true)
    }

    @Test func manyOpeningsWithoutABlankLineAreEachCheckedOnce() {
        // Each opening's block runs to the end of the body: scanned again for each, this took quadratic time.
        var body = [UInt8]()
        body.reserveCapacity(50_000 * 11)
        let opening = Array("--b\r\nA: 1\r\n".utf8)
        for _ in 0..<50_000 { body.append(contentsOf: opening) }
        #expect(body.withUnsafeBytes { MultipartForm.headersAreASCII($0, boundary: "b") } == true)
        body += Array("--b\r\n\u{e9}: 1\r\n".utf8)
        #expect(body.withUnsafeBytes { MultipartForm.headersAreASCII($0, boundary: "b") } == false)
    }
}
