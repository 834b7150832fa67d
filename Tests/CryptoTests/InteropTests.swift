import Testing
import UseroCrypto

/// Other implementations on the machine (the openssl CLI, Python's `cryptography`) agree with ours.
@Suite struct InteropTests {
    @Test func opensslCLIComputesTheSameHMAC() throws {
        // Given a printable random key (it travels as an argument) and a random binary message
        let key = Hex.encode(try SecureRandom.bytes(count: 24))
        let message = try SecureRandom.bytes(count: 1000)
        // When both compute HMAC-SHA256
        let output = try runTool("openssl", ["dgst", "-sha256", "-hmac", key], input: message)
        let theirs = try #require(output.split(separator: "= ").last)
        let ours = HMACSHA256.authenticationCode(for: message, key: SecretBytes(copying: key.utf8))
        // Then they agree
        #expect(String(theirs) == Hex.encode(ours))
    }

    @Test func opensslCLIComputesTheSameHMACWithABinaryKey() throws {
        let key = try SecureRandom.bytes(count: 32)
        let message = try SecureRandom.bytes(count: 77)
        let output = try runTool(
            "openssl",
            ["dgst", "-sha256", "-mac", "HMAC", "-macopt", "hexkey:\(Hex.encode(key))"],
            input: message
        )
        let theirs = try #require(output.split(separator: "= ").last)
        #expect(
            String(theirs) == Hex.encode(HMACSHA256.authenticationCode(for: message, key: SecretBytes(copying: key)))
        )
    }

    @Test func opensslCLIComputesTheSameSHA256() throws {
        let message = try SecureRandom.bytes(count: 513)
        let output = try runTool("openssl", ["dgst", "-sha256"], input: message)
        #expect(output.split(separator: "= ").last.map(String.init) == Hex.encode(SHA256.hash(message)))
    }

    // The script reads "key nonce aad data" as hex on stdin and prints hex; for "open", data is ciphertext || tag.
    static let python = """
        import sys
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        mode = sys.argv[1]
        key, nonce, aad, data = (bytes.fromhex(part) for part in sys.stdin.read().split(","))
        aead = AESGCM(key)
        out = aead.encrypt(nonce, data, aad) if mode == "seal" else aead.decrypt(nonce, data, aad)
        print(out.hex())
        """

    @Test func weOpenWhatPythonCryptographySeals() throws {
        // Given Python's AESGCM sealing a random plaintext under a random key, nonce and AAD
        let key = try SecureRandom.bytes(count: 32)
        let nonce = try SecureRandom.bytes(count: 12)
        let aad = Array("T1DC2JH3J".utf8)
        let plaintext = try SecureRandom.bytes(count: 100)
        let input = [key, nonce, aad, plaintext].map { Hex.encode($0) }.joined(separator: ",")
        let sealed = try hex(try runTool("python3", ["-c", Self.python, "seal"], input: Array(input.utf8)))
        // When we open its ciphertext || tag
        let box = AESGCM.SealedBox(
            nonce: nonce,
            ciphertext: Array(sealed.dropLast(AESGCM.tagSize)),
            tag: Array(sealed.suffix(AESGCM.tagSize))
        )
        let opened = try AESGCM.open(box, key: SecretBytes(copying: key), authenticating: aad)
        // Then we get the plaintext back
        #expect(opened.bytesForTesting == plaintext)
    }

    @Test func pythonCryptographyOpensWhatWeSeal() throws {
        let key = try SecureRandom.bytes(count: 32)
        let aad = Array("T1DC2JH3J".utf8)
        let plaintext = Array("xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy".utf8)
        let box = try AESGCM.seal(plaintext, key: SecretBytes(copying: key), authenticating: aad)
        let input = [key, box.nonce, aad, box.ciphertext + box.tag].map { Hex.encode($0) }.joined(separator: ",")
        let opened = try runTool("python3", ["-c", Self.python, "open"], input: Array(input.utf8))
        #expect(opened == Hex.encode(plaintext))
    }
}
