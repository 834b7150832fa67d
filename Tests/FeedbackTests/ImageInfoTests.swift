import Feedback
import Testing

@Suite struct ImageInfoTests {
    @Test func readsPNGDimensionsFromIHDR() throws {
        var bytes: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13]
        bytes += Array("IHDR".utf8) + [0, 0, 5, 0, 0, 0, 3, 32] + [8, 6, 0, 0, 0]
        let info = try #require(ImageInfo.sniff(bytes))
        #expect(info.mimeType == "image/png")
        #expect(info.width == 1280)
        #expect(info.height == 800)
    }

    /// A header can state any 32-bit size; only 1 to 2^31 - 1 is one an image can have (and a store's column holds).
    @Test(arguments: [(UInt32(0x8000_0000), UInt32(800)), (800, 0xFFFF_FFFF), (0, 800)])
    func aPNGSizeNoImageCanHaveIsNoSize(width: UInt32, height: UInt32) throws {
        var bytes: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13]
        bytes += Array("IHDR".utf8) + withUnsafeBytes(of: width.bigEndian, Array.init)
        bytes += withUnsafeBytes(of: height.bigEndian, Array.init) + [8, 6, 0, 0, 0]
        let info = try #require(ImageInfo.sniff(bytes))
        #expect(info.mimeType == "image/png")
        #expect(info.width == (width == 800 ? 800 : nil))
        #expect(info.height == (height == 800 ? 800 : nil))
    }

    /// "Checked by content": a signature alone, or a signature and a header cut short, is no image.
    @Test func aSignatureWithoutItsHeaderIsNoImage() throws {
        let cut: [[UInt8]] = [
            [0xFF, 0xD8, 0xFF], [0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10] + [UInt8](repeating: 0, count: 14),
            Array("GIF89a".utf8), Array("GIF87a".utf8) + [1, 0, 1, 0],
            [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13],
            Array("RIFF".utf8) + [0, 0, 0, 0] + Array("WEBP".utf8), Array("RIFF".utf8) + [0, 0, 0, 0] + Array("WEBPJUNK".utf8)
                + [UInt8](repeating: 0, count: 20),
        ]
        for bytes in cut { #expect(ImageInfo.sniff(bytes) == nil, "\(bytes)") }
    }

    /// A GIF, JPEG or WebP header saying 0 pixels states no size, as a PNG's does: the dimension is left out, never 0.
    @Test func aZeroSizeIsNoSizeInEveryFormat() throws {
        let gif: [UInt8] = Array("GIF89a".utf8) + [0, 0, 0, 0, 0, 0, 0]
        let jpeg: [UInt8] = [0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x11, 0x08, 0x00, 0x00, 0x00, 0x00, 0x03]
        var webp: [UInt8] = Array("RIFF".utf8) + [0, 0, 0, 0] + Array("WEBPVP8 ".utf8)
        webp += [UInt8](repeating: 0, count: 7) + [0x9D, 0x01, 0x2A] + [0, 0, 0, 0]  // chunk size, frame tag, size
        for (bytes, mime) in [(gif, "image/gif"), (jpeg, "image/jpeg"), (webp, "image/webp")] {
            let info = try #require(ImageInfo.sniff(bytes), "\(mime)")
            #expect(info.mimeType == mime)
            #expect(info.width == nil && info.height == nil, "\(mime): \(String(describing: info.width))")
        }
    }

    @Test func walksJPEGSegmentsToTheFrameHeader() throws {
        let bytes: [UInt8] = [0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x04, 0x00, 0x00,  // APP1, 2 bytes of payload
                              0xFF, 0xC2, 0x00, 0x11, 0x08, 0x01, 0xE0, 0x02, 0x80, 0x03]  // progressive SOF2 480x640
        let info = try #require(ImageInfo.sniff(bytes))
        #expect(info.mimeType == "image/jpeg")
        #expect(info.width == 640)
        #expect(info.height == 480)
    }

    /// Tables may come before the frame header (a DHT, whose marker sits among the SOF ones, often does): the size
    /// is the frame's, not read from a table.
    @Test func aHuffmanTableBeforeTheFrameHeaderIsSkipped() throws {
        let bytes: [UInt8] = [0xFF, 0xD8, 0xFF, 0xDB, 0x00, 0x04, 0x00, 0x00,  // DQT, 2 bytes of payload
                              0xFF, 0xC4, 0x00, 0x06, 0x00, 0x01, 0x02, 0x03,  // DHT, 4 bytes of payload
                              0xFF, 0xC0, 0x00, 0x11, 0x08, 0x01, 0xE0, 0x02, 0x80, 0x03, 0x01, 0x22, 0x00]  // SOF0 480x640
        let info = try #require(ImageInfo.sniff(bytes))
        #expect(info.mimeType == "image/jpeg")
        #expect(info.width == 640)
        #expect(info.height == 480)
    }

    /// Lossy WebP (`VP8 `: 14-bit sizes, the top two bits a scale) and extended WebP (`VP8X`: 24-bit sizes less one,
    /// as alpha and animation use) report the sizes their headers state.
    @Test func readsLossyAndExtendedWebPDimensions() throws {
        let riff: [UInt8] = Array("RIFF".utf8) + [0, 0, 0, 0] + Array("WEBP".utf8)
        // Chunk size, frame tag, start code, then 400 (scale 1) and 300.
        let lossy = riff + Array("VP8 ".utf8) + [0, 0, 0, 0, 0, 0, 0, 0x9D, 0x01, 0x2A, 0x90, 0x41, 0x2C, 0x01]
        // Chunk size, flags, reserved, then 1024 - 1 and 768 - 1.
        let extended = riff + Array("VP8X".utf8) + [10, 0, 0, 0, 0x10, 0, 0, 0, 0xFF, 0x03, 0x00, 0xFF, 0x02, 0x00]
        for (bytes, width, height) in [(lossy, 400, 300), (extended, 1024, 768)] as [([UInt8], Int64, Int64)] {
            let info = try #require(ImageInfo.sniff(bytes))
            #expect(info.mimeType == "image/webp")
            #expect(info.width == width)
            #expect(info.height == height)
        }
    }

    @Test func readsBMPDimensionsTopDownOrBottomUp() throws {
        func bmp(height: Int32) -> [UInt8] {
            var bytes = Array("BM".utf8) + [UInt8](repeating: 0, count: 12) + [40, 0, 0, 0] + [0x20, 0x03, 0, 0]
            bytes += withUnsafeBytes(of: height.littleEndian, Array.init)
            return bytes + [1, 0, 24, 0]
        }
        for height: Int32 in [600, -600] {
            let info = try #require(ImageInfo.sniff(bmp(height: height)))
            #expect(info.mimeType == "image/bmp")
            #expect(info.width == 800)
            #expect(info.height == 600)
        }
        // A top-down height of -2^31 has no positive counterpart: no height.
        let deepest = try #require(ImageInfo.sniff(bmp(height: .min)))
        #expect(deepest.width == 800 && deepest.height == nil)
        // "BM" and no header after it is not a bitmap.
        #expect(ImageInfo.sniff(Array("BM hello, this is not a bitmap".utf8)) == nil)
    }

    @Test(arguments: [Array("hello".utf8), Array("<svg></svg>".utf8), [], Array("RIFF0000WAVE".utf8),
                      [0, 0, 0, 24] + Array("ftypmp42".utf8) + [0, 0, 0, 0]])
    func refusesWhatIsNotARasterImage(bytes: [UInt8]) {
        #expect(ImageInfo.sniff(bytes) == nil)
    }
}
