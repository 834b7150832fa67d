extension AESGCM {
    /// The three parts of an AES-GCM seal; none is secret, and the nonce must travel with the ciphertext.
    public struct SealedBox: Sendable, Equatable {
        /// The 12-byte nonce used for this seal.
        public var nonce: [UInt8]
        /// The encrypted bytes, as long as the plaintext.
        public var ciphertext: [UInt8]
        /// The 16-byte authentication tag.
        public var tag: [UInt8]

        /// Assembles a box from its parts, e.g. ones read back from storage.
        public init(nonce: [UInt8], ciphertext: [UInt8], tag: [UInt8]) {
            self.nonce = nonce
            self.ciphertext = ciphertext
            self.tag = tag
        }
    }
}
