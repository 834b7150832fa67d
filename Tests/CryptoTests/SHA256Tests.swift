import Testing
import UseroCrypto

@Suite struct SHA256Tests {
    // FIPS 180-2 appendix B.1 ("abc") and B.2, plus the digest of the empty string.
    @Test(arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        (
            "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        ),
    ])
    func matchesFIPS180Examples(message: String, digest: String) {
        #expect(Hex.encode(SHA256.hash(message.utf8)) == digest)
    }

    @Test func aNonContiguousCollectionHashesLikeItsArray() {
        let bytes = (0..<200).lazy.map { UInt8($0) }
        #expect(SHA256.hash(bytes) == SHA256.hash(Array(bytes)))
    }
}
