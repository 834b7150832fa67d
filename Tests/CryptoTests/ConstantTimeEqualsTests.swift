import Testing
import UseroCrypto

@Suite struct ConstantTimeEqualsTests {
    @Test func equalBytesAreEqual() {
        #expect(constantTimeEquals(Array(0..<32), Array(0..<32)))
        #expect(constantTimeEquals([UInt8](), [UInt8]()))
        #expect(constantTimeEquals(Array("v0=abc".utf8), "v0=abc".utf8))
    }

    @Test func aDifferentLastByteIsUnequal() {
        var other = Array(UInt8(0)..<32)
        other[31] ^= 1
        #expect(!constantTimeEquals(Array(0..<32), other))
    }

    @Test func differentLengthsAreUnequal() {
        #expect(!constantTimeEquals(Array(0..<32), Array(0..<31)))
        #expect(!constantTimeEquals([UInt8](), [0]))
    }
}
