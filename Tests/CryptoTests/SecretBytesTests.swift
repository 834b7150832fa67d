import Testing
@testable import UseroCrypto

@Suite struct SecretBytesTests {
    @Test func copiesTheBytesItIsGiven() {
        let secret = SecretBytes(copying: "xoxb-1".utf8)
        #expect(secret.count == 6)
        #expect(secret.bytesForTesting == Array("xoxb-1".utf8))
        #expect(SecretBytes(copying: [UInt8]()).count == 0)
    }

    /// A token's plaintext does not outlive its last use in memory given back to the allocator: the buffer holds
    /// only zeroes when it is released.
    @Test func theMemoryIsZeroesWhenItIsGivenBack() {
        final class Released: @unchecked Sendable { var bytes: [UInt8]? }
        let released = Released()
        do {
            let secret = SecretBytes(copying: Array("xoxb-17653672481".utf8)) { storage in
                released.bytes = Array(storage)
                storage.deallocate()
            }
            #expect(secret.bytesForTesting == Array("xoxb-17653672481".utf8))
        }
        #expect(released.bytes == Array(repeating: 0, count: 16))
    }

    @Test func randomSecretsHaveTheRequestedSizeAndDiffer() throws {
        let first = try SecretBytes.random(count: 32)
        let second = try SecretBytes.random(count: 32)
        #expect(first.count == 32)
        #expect(first.bytesForTesting != second.bytesForTesting)
        #expect(try SecretBytes.random(count: 0).count == 0)
    }

    @Test func secureRandomBytesHaveTheRequestedSizeAndDiffer() throws {
        #expect(try SecureRandom.bytes(count: 0).isEmpty)
        #expect(try SecureRandom.bytes(count: 16) != SecureRandom.bytes(count: 16))
    }
}
