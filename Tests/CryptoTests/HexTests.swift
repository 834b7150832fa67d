import Testing
import UseroCrypto

@Suite struct HexTests {
    @Test func encodeThenDecodeRoundTripsEveryByte() throws {
        let bytes = Array(UInt8.min...UInt8.max)
        let text = Hex.encode(bytes)
        #expect(text.count == 512)
        #expect(text == text.lowercased())
        #expect(Hex.decode(text) == bytes)
        #expect(Hex.decode(text.uppercased()) == bytes)
        #expect(Hex.decode(text[...]) == bytes)
    }

    @Test func encodesLowercase() {
        #expect(Hex.encode([0x00, 0x0f, 0xab, 0xff]) == "000fabff")
        #expect(Hex.encode([UInt8]()) == "")
    }

    @Test(arguments: ["abc", "zz", "0g", " 0", "é1"])
    func rejectsOddLengthsAndNonHexCharacters(_ text: String) {
        #expect(Hex.decode(text) == nil)
    }
}
