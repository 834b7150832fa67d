import Testing

/// An AES-256-GCM known answer with a 96-bit IV and a 128-bit tag; all fields are hex.
struct GCMVector: Sendable, CustomTestStringConvertible {
    let name: String
    let key: String
    let nonce: String
    let plaintext: String
    let aad: String
    let ciphertext: String
    let tag: String

    var testDescription: String { name }
}

extension GCMVector {
    // McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)", revised 2005, Appendix B, test cases 13–16
    // (the AES-256 cases with a 96-bit IV; 17 and 18 use other IV lengths).
    static let mcgrewViegaKey = "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308"
    static let mcgrewViegaPlaintext =
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
        + "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255"
    static let mcgrewViegaCiphertext =
        "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
        + "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad"

    static let all: [GCMVector] = [
        GCMVector(
            name: "GCM spec TC13: zero key, empty plaintext, no AAD",
            key: String(repeating: "00", count: 32),
            nonce: String(repeating: "00", count: 12),
            plaintext: "",
            aad: "",
            ciphertext: "",
            tag: "530f8afbc74536b9a963b4f1c4cb738b"
        ),
        GCMVector(
            name: "GCM spec TC14: zero key, one zero block",
            key: String(repeating: "00", count: 32),
            nonce: String(repeating: "00", count: 12),
            plaintext: String(repeating: "00", count: 16),
            aad: "",
            ciphertext: "cea7403d4d606b6e074ec5d3baf39d18",
            tag: "d0d1c8a799996bf0265b98b5d48ab919"
        ),
        GCMVector(
            name: "GCM spec TC15: four blocks, no AAD",
            key: mcgrewViegaKey,
            nonce: "cafebabefacedbaddecaf888",
            plaintext: mcgrewViegaPlaintext,
            aad: "",
            ciphertext: mcgrewViegaCiphertext,
            tag: "b094dac5d93471bdec1a502270e3cc6c"
        ),
        GCMVector(
            name: "GCM spec TC16: 60-byte plaintext, 20-byte AAD",
            key: mcgrewViegaKey,
            nonce: "cafebabefacedbaddecaf888",
            plaintext: String(mcgrewViegaPlaintext.dropLast(8)),
            aad: "feedfacedeadbeeffeedfacedeadbeefabaddad2",
            ciphertext: String(mcgrewViegaCiphertext.dropLast(8)),
            tag: "76fc6ece0f4e1768cddf8853bb2d551b"
        ),
        // NIST CAVP gcmEncryptExtIV256.rsp, [Keylen = 256] [IVlen = 96] [Taglen = 128], Count = 0 of each group.
        GCMVector(
            name: "CAVP PTlen=0 AADlen=0",
            key: "b52c505a37d78eda5dd34f20c22540ea1b58963cf8e5bf8ffa85f9f2492505b4",
            nonce: "516c33929df5a3284ff463d7",
            plaintext: "",
            aad: "",
            ciphertext: "",
            tag: "bdc1ac884d332457a1d2664f168c76f0"
        ),
        GCMVector(
            name: "CAVP PTlen=0 AADlen=160",
            key: "886cff5f3e6b8d0e1ad0a38fcdb26de97e8acbe79f6bed66959a598fa5047d65",
            nonce: "3a8efa1cd74bbab5448f9945",
            plaintext: "",
            aad: "519fee519d25c7a304d6c6aa1897ee1eb8c59655",
            ciphertext: "",
            tag: "f6d47505ec96c98a42dc3ae719877b87"
        ),
        GCMVector(
            name: "CAVP PTlen=128 AADlen=0",
            key: "31bdadd96698c204aa9ce1448ea94ae1fb4a9a0b3c9d773b51bb1822666b8f22",
            nonce: "0d18e06c7c725ac9e362e1ce",
            plaintext: "2db5168e932556f8089a0622981d017d",
            aad: "",
            ciphertext: "fa4362189661d163fcd6a56d8bf0405a",
            tag: "d636ac1bbedd5cc3ee727dc2ab4a9489"
        ),
        GCMVector(
            name: "CAVP PTlen=128 AADlen=128",
            key: "92e11dcdaa866f5ce790fd24501f92509aacf4cb8b1339d50c9c1240935dd08b",
            nonce: "ac93a1a6145299bde902f21a",
            plaintext: "2d71bcfa914e4ac045b2aa60955fad24",
            aad: "1e0889016f67601c8ebea4943bc23ad6",
            ciphertext: "8995ae2e6df3dbf96fac7b7137bae67f",
            tag: "eca5aa77d51d4a0a14d9c51e1da474ab"
        ),
    ]
}
