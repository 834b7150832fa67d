import Foundation
import Testing

@testable import Feedback

/// Uploaded images lose what they say about a person beyond their pixels (ImageMetadata): a phone photo's GPS
/// position, its time and device, words written into it. What a decoder draws stays byte for byte.
@Suite struct ImageMetadataTests {
    /// A JPEG marker segment: FF, the marker, its length (2 + payload), the payload.
    static func segment(_ marker: UInt8, _ payload: [UInt8]) -> [UInt8] {
        let length = payload.count + 2
        return [0xFF, marker, UInt8(length >> 8), UInt8(length & 0xFF)] + payload
    }

    /// An Exif APP1 payload: a TIFF of either byte order whose first directory holds an orientation (when given) and
    /// a GPS-like ASCII entry whose text lies after the directory.
    static func exif(orientation: UInt16?, littleEndian: Bool = false, text: String = "GPS 48.8584N 2.2945E") -> [UInt8] {
        func u16(_ v: UInt16) -> [UInt8] { littleEndian ? [UInt8(v & 0xFF), UInt8(v >> 8)] : [UInt8(v >> 8), UInt8(v & 0xFF)] }
        func u32(_ v: UInt32) -> [UInt8] { littleEndian ? u16(UInt16(v & 0xFFFF)) + u16(UInt16(v >> 16)) : u16(UInt16(v >> 16)) + u16(UInt16(v & 0xFFFF)) }
        let entries = orientation == nil ? 1 : 2
        let textOffset = UInt32(8 + 2 + entries * 12 + 4)
        var tiff: [UInt8] = (littleEndian ? [0x49, 0x49] : [0x4D, 0x4D]) + u16(42) + u32(8) + u16(UInt16(entries))
        // ImageDescription (0x010E), ASCII, its text at textOffset.
        tiff += u16(0x010E) + u16(2) + u32(UInt32(text.utf8.count + 1)) + u32(textOffset)
        if let orientation {
            tiff += u16(0x0112) + u16(3) + u32(1) + u16(orientation) + [0, 0]
        }
        tiff += u32(0) + Array(text.utf8) + [0]
        return Array("Exif".utf8) + [0, 0] + tiff
    }

    static let scanAndData: [UInt8] =
        segment(0xDA, [1, 1, 0, 0, 0x3F, 0]) + [0x12, 0x34, 0xFF, 0x00, 0x56, 0x78] + [0xFF, 0xD9]

    /// A baseline JPEG's structure: JFIF, then `metadata`, an ICC profile, a quantisation table, the frame header.
    static func jpeg(metadata: [[UInt8]]) -> [UInt8] {
        var bytes: [UInt8] = [0xFF, 0xD8]
        bytes += segment(0xE0, Array("JFIF".utf8) + [0, 1, 1, 0, 0, 1, 0, 1, 0, 0])
        for piece in metadata { bytes += piece }
        bytes += segment(0xE2, Array("ICC_PROFILE".utf8) + [0, 1, 1] + [UInt8](repeating: 0x42, count: 20))
        bytes += segment(0xDB, [0] + [UInt8](repeating: 1, count: 64))
        bytes += segment(0xC0, [8, 0x01, 0xE0, 0x02, 0x80, 1, 1, 0x11, 0])  // 640×480, one component
        return bytes + scanAndData
    }

    static func contains(_ haystack: [UInt8], _ needle: String) -> Bool {
        Data(haystack).range(of: Data(needle.utf8)) != nil
    }

    /// The orientation the stripped JPEG's Exif gives, read as a viewer would: the first APP1 before the scan.
    static func orientation(of jpeg: [UInt8]) -> UInt8? {
        jpeg.withUnsafeBytes { b -> UInt8? in
            var i = 2
            while i + 4 <= b.count, b[i] == 0xFF, b[i + 1] != 0xDA {
                let end = i + 2 + (Int(b[i + 2]) << 8 | Int(b[i + 3]))
                if b[i + 1] == 0xE1 { return ImageMetadata.exifOrientation(b, from: i + 4, to: end) }
                i = end
            }
            return nil
        }
    }

    @Test(arguments: [false, true])
    func aPhotosExifXMPIPTCAndCommentGoAndItsOrientationStays(littleEndian: Bool) throws {
        let original = Self.jpeg(metadata: [
            Self.segment(0xE1, Self.exif(orientation: 6, littleEndian: littleEndian)),
            Self.segment(0xE1, Array("http://ns.adobe.com/xap/1.0/".utf8) + [0] + Array("<x:xmpmeta>Ada Lovelace</x:xmpmeta>".utf8)),
            Self.segment(0xED, Array("Photoshop 3.0".utf8) + [0] + Array("8BIM IPTC byline Ada".utf8)),
            Self.segment(0xFE, Array("taken at home".utf8)),
        ])
        #expect(Self.contains(original, "48.8584N"))
        let stripped = try #require(ImageMetadata.stripped(original, mimeType: "image/jpeg"))
        for canary in ["48.8584N", "Ada Lovelace", "IPTC byline", "taken at home", "xmpmeta"] {
            #expect(!Self.contains(stripped, canary), "\(canary)")
        }
        // Upright as taken: a viewer still turns it by 90°.
        #expect(Self.orientation(of: stripped) == 6)
        // What draws the picture is untouched: the JFIF and ICC segments, the tables, the frame and the scan.
        #expect(Self.contains(stripped, "JFIF") && Self.contains(stripped, "ICC_PROFILE"))
        #expect(Array(stripped.suffix(Self.scanAndData.count)) == Self.scanAndData)
        let info = try #require(ImageInfo.sniff(stripped))
        #expect(info.mimeType == "image/jpeg" && info.width == 640 && info.height == 480)
        // Only the metadata went: the result is the original less those segments, plus the new Exif segment.
        let expectedLength = Self.jpeg(metadata: []).count + ImageMetadata.orientationSegment(6).count
        #expect(stripped.count == expectedLength)
    }

    @Test func anUprightPhotoKeepsNoExifAtAll() throws {
        let original = Self.jpeg(metadata: [Self.segment(0xE1, Self.exif(orientation: 1))])
        let stripped = try #require(ImageMetadata.stripped(original, mimeType: "image/jpeg"))
        #expect(stripped == Self.jpeg(metadata: []))
        let noOrientation = Self.jpeg(metadata: [Self.segment(0xE1, Self.exif(orientation: nil))])
        #expect(ImageMetadata.stripped(noOrientation, mimeType: "image/jpeg") == Self.jpeg(metadata: []))
    }

    @Test func anImageWithoutMetadataIsLeftAsItIs() {
        #expect(ImageMetadata.stripped(Self.jpeg(metadata: []), mimeType: "image/jpeg") == nil)
        #expect(ImageMetadata.stripped(Self.png(extra: []), mimeType: "image/png") == nil)
        #expect(ImageMetadata.stripped(Self.webp(extra: [], flags: 0x10), mimeType: "image/webp") == nil)
        #expect(ImageMetadata.stripped(Self.gif(extensions: [Self.netscapeLoop]), mimeType: "image/gif") == nil)
    }

    /// What follows an image's end is no part of it: a phone's depth map or a motion photo's video (with its sound)
    /// after a JPEG, with the `MPF` segment that points there, or bytes appended to any image. The ICC profile in
    /// APP2 stays; a 0xFF 0xD9 inside the scan's data (stuffed as 0xFF 0x00 0xD9) is not taken for the end, and a
    /// progressive JPEG's later scans are passed over to its end.
    @Test func whatFollowsAnImagesEndGoes() throws {
        let video = Array("\u{0}\u{0}\u{0}\u{18}ftypmp42 motion photo: sound of the office".utf8)
        let multiPicture = Self.segment(0xE2, Array("MPF".utf8) + [0, 0x4D, 0x4D, 0, 0x2A, 0, 0, 0, 8])
        let photo = Self.jpeg(metadata: [multiPicture])
        let stripped = try #require(ImageMetadata.stripped(photo + video, mimeType: "image/jpeg"))
        #expect(stripped == Self.jpeg(metadata: []))
        #expect(ImageMetadata.stripped(Self.jpeg(metadata: []) + video, mimeType: "image/jpeg") == Self.jpeg(metadata: []))
        let progressive =
            Array(Self.jpeg(metadata: []).dropLast(2)) + [0xFF, 0x00, 0xD9, 0x42] + Self.segment(0xC4, [0x10] + [UInt8](repeating: 0, count: 16))
            + Self.segment(0xDA, [1, 1, 0, 1, 0x3F, 0]) + [0x9A, 0xFF, 0xD3, 0x01, 0xFF, 0xD9]
        #expect(ImageMetadata.stripped(progressive + video, mimeType: "image/jpeg") == progressive)
        // A JPEG whose end is not there keeps all it has
        #expect(ImageMetadata.stripped(Array(Self.jpeg(metadata: []).dropLast(2)) + video, mimeType: "image/jpeg") == nil)

        #expect(ImageMetadata.stripped(Self.png(extra: []) + video, mimeType: "image/png") == Self.png(extra: []))
        let webp = Self.webp(extra: [], flags: 0x10)
        #expect(ImageMetadata.stripped(webp + video, mimeType: "image/webp") == webp)
        let gif = Self.gif(extensions: [])
        #expect(ImageMetadata.stripped(gif + video, mimeType: "image/gif") == gif)
    }

    // MARK: GIF

    /// An extension block: its label, then its data in sub-blocks of up to 255 bytes, then an empty one.
    static func gifExtension(_ label: UInt8, _ data: [UInt8]) -> [UInt8] {
        var bytes: [UInt8] = [0x21, label]
        var rest = data[...]
        while !rest.isEmpty {
            let piece = rest.prefix(255)
            bytes += [UInt8(piece.count)] + piece
            rest = rest.dropFirst(piece.count)
        }
        return bytes + [0]
    }

    /// Netscape's looping extension: loop for ever.
    static let netscapeLoop: [UInt8] = Array(gifExtension(0xFF, Array("NETSCAPE2.0".utf8)).dropLast()) + [3, 1, 0, 0, 0]

    /// A GIF89a of two frames with a global colour table of two colours, `extensions` before the first frame.
    static func gif(extensions: [[UInt8]]) -> [UInt8] {
        var bytes = Array("GIF89a".utf8) + [2, 0, 2, 0, 0x80, 0, 0] + [0, 0, 0, 0xFF, 0xFF, 0xFF]
        for piece in extensions { bytes += piece }
        for _ in 0..<2 {
            bytes += [0x21, 0xF9, 4, 0, 10, 0, 0, 0]  // graphic control: a delay
            bytes += [0x2C, 0, 0, 0, 0, 2, 0, 2, 0, 0] + [2, 2, 0x4C, 0x01, 0]  // the frame, its data
        }
        return bytes + [0x3B]
    }

    @Test func aGIFsCommentsAndXMPGoAndItsLoopStays() throws {
        let xmp = Self.gifExtension(0xFF, Array("XMP DataXMP".utf8) + Array("<x:xmpmeta>Ada Lovelace</x:xmpmeta>".utf8))
        let comment = Self.gifExtension(0xFE, Array("Taken at 48.8584N 2.2945E".utf8) + [UInt8](repeating: 0x41, count: 300))
        let original = Self.gif(extensions: [Self.netscapeLoop, comment, xmp])
        let stripped = try #require(ImageMetadata.stripped(original, mimeType: "image/gif"))
        #expect(stripped == Self.gif(extensions: [Self.netscapeLoop]))
        #expect(!Self.contains(stripped, "48.8584N") && !Self.contains(stripped, "Ada Lovelace"))
        #expect(ImageInfo.sniff(stripped)?.width == 2)
        // Cut short before its trailer: kept as sent
        #expect(ImageMetadata.stripped(Array(original.dropLast(3)), mimeType: "image/gif") == nil)
    }

    /// A segment cut short before the scan: the walk cannot tell what follows, and the file is kept as sent.
    @Test func aJPEGCutShortBeforeItsScanIsKeptAsSent() {
        let bytes = Self.jpeg(metadata: [Self.segment(0xE1, Self.exif(orientation: 3))])
        #expect(ImageMetadata.stripped(Array(bytes.prefix(30)), mimeType: "image/jpeg") == nil)
        // A comment whose length runs past the end of the file.
        let long = [0xFF, 0xD8] + Self.segment(0xE0, Array("JFIF".utf8) + [0, 1, 1, 0, 0, 1, 0, 1, 0, 0])
            + [0xFF, 0xFE, 0x10, 0x00] + Array("note".utf8)
        #expect(ImageMetadata.stripped(long, mimeType: "image/jpeg") == nil)
    }

    // MARK: PNG

    static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let n = UInt32(data.count)
        // The CRC is not checked here; four bytes stand for it.
        return [UInt8(n >> 24), UInt8((n >> 16) & 0xFF), UInt8((n >> 8) & 0xFF), UInt8(n & 0xFF)] + Array(type.utf8)
            + data + [0xC0, 0xFF, 0xEE, 0x00]
    }

    static func png(extra: [[UInt8]], afterData: [[UInt8]] = []) -> [UInt8] {
        var bytes: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        bytes += chunk("IHDR", [0, 0, 5, 0, 0, 0, 3, 32, 8, 6, 0, 0, 0])
        bytes += chunk("iCCP", Array("sRGB".utf8) + [0, 0, 1, 2, 3])
        for piece in extra { bytes += piece }
        bytes += chunk("IDAT", [0x78, 0x9C, 1, 2, 3, 4])
        for piece in afterData { bytes += piece }
        return bytes + chunk("IEND", [])
    }

    @Test func aPNGsTextExifAndTimeChunksGoWhereverTheyStand() throws {
        let original = Self.png(
            extra: [
                Self.chunk("tEXt", Array("Author".utf8) + [0] + Array("Ada Lovelace".utf8)),
                Self.chunk("eXIf", Array(Self.exif(orientation: 1).dropFirst(6))),
                Self.chunk("tIME", [0x07, 0xEA, 12, 7, 3, 0, 0]),
            ],
            afterData: [
                Self.chunk("iTXt", Array("Comment".utf8) + [0, 0, 0, 0, 0] + Array("at home".utf8)),
                Self.chunk("zTXt", Array("Where".utf8) + [0, 0, 0x78, 0x9C]),
            ])
        let stripped = try #require(ImageMetadata.stripped(original, mimeType: "image/png"))
        #expect(stripped == Self.png(extra: []))
        for canary in ["Ada Lovelace", "at home", "48.8584N", "tIME", "zTXt"] { #expect(!Self.contains(stripped, canary)) }
        #expect(ImageInfo.sniff(stripped)?.width == 1280)
    }

    @Test func aPNGCutShortIsKeptAsSent() {
        let original = Self.png(extra: [Self.chunk("tEXt", Array("Author".utf8) + [0] + Array("Ada".utf8))])
        #expect(ImageMetadata.stripped(Array(original.prefix(original.count - 14)), mimeType: "image/png") == nil)
    }

    // MARK: WebP

    static func riffChunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let n = UInt32(data.count)
        return Array(type.utf8) + [UInt8(n & 0xFF), UInt8((n >> 8) & 0xFF), UInt8((n >> 16) & 0xFF), UInt8(n >> 24)]
            + data + (data.count % 2 == 1 ? [0] : [])
    }

    /// An extended WebP: VP8X (with `flags`), a lossy frame, then `extra` chunks.
    static func webp(extra: [[UInt8]], flags: UInt8) -> [UInt8] {
        var body = Array("WEBP".utf8)
        body += riffChunk("VP8X", [flags, 0, 0, 0, 0x2B, 0x01, 0x00, 0xC7, 0x00, 0x00])  // 300×200
        body += riffChunk("VP8 ", [0x10, 0x02, 0x00, 0x9D, 0x01, 0x2A, 0x2C, 0x01, 0xC8, 0x00, 7])
        for piece in extra { body += piece }
        let n = UInt32(body.count)
        return Array("RIFF".utf8) + [UInt8(n & 0xFF), UInt8((n >> 8) & 0xFF), UInt8((n >> 16) & 0xFF), UInt8(n >> 24)] + body
    }

    @Test func aWebPsExifAndXMPChunksGoAndItsHeaderSaysSo() throws {
        let original = Self.webp(
            extra: [
                Self.riffChunk("EXIF", Array(Self.exif(orientation: 6).dropFirst(6))),
                Self.riffChunk("XMP ", Array("<x:xmpmeta>Ada Lovelace</x:xmpmeta>".utf8)),
            ], flags: 0x10 | 0x08 | 0x04)
        let stripped = try #require(ImageMetadata.stripped(original, mimeType: "image/webp"))
        // The same file as one made without them: the RIFF size and VP8X's flags (alpha kept) match what is left.
        #expect(stripped == Self.webp(extra: [], flags: 0x10))
        #expect(!Self.contains(stripped, "48.8584N") && !Self.contains(stripped, "Ada Lovelace"))
        let info = try #require(ImageInfo.sniff(stripped))
        #expect(info.width == 300 && info.height == 200)
    }

    /// Whatever else a device writes goes too, as does what a decoder does not read: a list of what to take out
    /// let a GoPro's GPS track (APP6), a camera's owner (APP12), other APPn segments and a program's private PNG chunk
    /// through (found by a review). JFIF, the colour profile and Adobe's transform stay.
    @Test func segmentsAndChunksNoDecoderReadsGoWhateverTheyHold() throws {
        let adobe = Self.segment(0xEE, Array("Adobe".utf8) + [0, 100, 0, 0, 0, 0, 1])
        let jpeg = Self.jpeg(metadata: [
            Self.segment(0xE6, Array("GoPro".utf8) + [0] + Array("DEVCGPS5 lat=48.8584 lon=2.2945".utf8)),
            Self.segment(0xEC, Array("[picture info] Owner=Ada Lovelace".utf8)),
            Self.segment(0xE4, Array("APP4 note".utf8)), Self.segment(0xEF, Array("APP15 note".utf8)),
            Self.segment(0xE2, Array("FPXR".utf8) + [0] + Array("APP2 note".utf8)),
            adobe,
        ])
        let strippedJPEG = try #require(ImageMetadata.stripped(jpeg, mimeType: "image/jpeg"))
        #expect(strippedJPEG == Self.jpeg(metadata: [adobe]))
        for canary in ["48.8584", "Ada Lovelace", "APP4 note", "APP15 note", "APP2 note"] {
            #expect(!Self.contains(strippedJPEG, canary), "\(canary)")
        }

        let png = Self.png(
            extra: [Self.chunk("pHYs", [0, 0, 0x0B, 0x13, 0, 0, 0x0B, 0x13, 1])],
            afterData: [Self.chunk("gpSt", Array("lat 48.8584".utf8)), Self.chunk("prVt", Array("Ada Lovelace".utf8))])
        let strippedPNG = try #require(ImageMetadata.stripped(png, mimeType: "image/png"))
        #expect(strippedPNG == Self.png(extra: [Self.chunk("pHYs", [0, 0, 0x0B, 0x13, 0, 0, 0x0B, 0x13, 1])]))

        let webp = Self.webp(extra: [Self.riffChunk("GPS ", Array("lat 48.8584".utf8))], flags: 0x10)
        let strippedWebP = try #require(ImageMetadata.stripped(webp, mimeType: "image/webp"))
        #expect(strippedWebP == Self.webp(extra: [], flags: 0x10))
    }

    /// A RIFF size of 0 (what a writer that cannot seek back leaves) or one that ends before the image's data cut the
    /// file to its first 8 or 12 bytes, while the upload's answer gave its dimensions (found by a review); kept as sent,
    /// it kept its Exif too. The chunks are read to the file's end: the metadata goes, the size is written anew.
    @Test func aWebPWhoseRIFFSizeEndsBeforeItsImageIsReadToItsEnd() throws {
        let withExif = Self.webp(extra: [Self.riffChunk("EXIF", Array(Self.exif(orientation: 6).dropFirst(6)))], flags: 0x08)
        let clean = Self.webp(extra: [], flags: 0)
        for (original, expected) in [(withExif, clean), (clean, clean)] {
            for size in [0, 4, 4 + 18] {
                var cut = original
                cut[4] = UInt8(size)
                cut[5] = 0
                cut[6] = 0
                cut[7] = 0
                let stripped = try #require(ImageMetadata.stripped(cut, mimeType: "image/webp"), "RIFF size \(size)")
                #expect(stripped == expected, "RIFF size \(size)")
                #expect(!Self.contains(stripped, "48.8584N"))
            }
        }
    }

    // MARK: HEIF and AVIF

    static func u16(_ v: Int) -> [UInt8] { [UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
    static func u32(_ v: Int) -> [UInt8] { u16(v >> 16) + u16(v & 0xFFFF) }
    static func isoBox(_ type: String, _ payload: [UInt8]) -> [UInt8] { u32(8 + payload.count) + Array(type.utf8) + payload }
    static func fullBox(_ type: String, version: UInt8, _ payload: [UInt8]) -> [UInt8] {
        isoBox(type, [version, 0, 0, 0] + payload)
    }
    static func infe(_ id: Int, _ type: String, contentType: String? = nil) -> [UInt8] {
        fullBox("infe", version: 2, u16(id) + u16(0) + Array(type.utf8) + [0] + (contentType.map { Array($0.utf8) + [0] } ?? []))
    }

    /// A HEIC as an encoder lays it out, with `iloc` version 1: the coded image (item 1) and an Exif (item 2) in
    /// `mdat`, an XMP packet (item 3) in `meta`'s own `idat`.
    static func heic(exif: [UInt8], xmp: [UInt8]) -> (file: [UInt8], exif: Range<Int>, xmp: Range<Int>) {
        let coded: [UInt8] = [0x00, 0x00, 0x00, 0x1A, 0x28, 0x01, 0xAF, 0x13, 0x21, 0x9F, 0x4E, 0x2D]
        let ftyp = isoBox("ftyp", Array("heic".utf8) + [0, 0, 0, 0] + Array("mif1heic".utf8))
        let hdlr = fullBox("hdlr", version: 0, u32(0) + Array("pict".utf8) + [UInt8](repeating: 0, count: 13))
        let iinf = fullBox(
            "iinf", version: 0,
            u16(3) + infe(1, "hvc1") + infe(2, "Exif") + infe(3, "mime", contentType: "application/rdf+xml"))
        func iloc(mdat: Int) -> [UInt8] {
            func item(_ id: Int, method: Int, _ offset: Int, _ length: Int) -> [UInt8] {
                u16(id) + u16(method) + u16(0) + u16(1) + u32(offset) + u32(length)
            }
            return fullBox(
                "iloc", version: 1,
                [0x44, 0x00] + u16(3) + item(1, method: 0, mdat, coded.count)
                    + item(2, method: 0, mdat + coded.count, exif.count) + item(3, method: 1, 0, xmp.count))
        }
        let idat = isoBox("idat", xmp)
        let metaSize = 12 + hdlr.count + iinf.count + iloc(mdat: 0).count + idat.count
        let mdat = ftyp.count + metaSize + 8  // where mdat's payload starts
        let meta = fullBox("meta", version: 0, hdlr + iinf + iloc(mdat: mdat) + idat)
        let file = ftyp + meta + isoBox("mdat", coded + exif)
        let xmpAt = ftyp.count + meta.count - xmp.count
        return (file, mdat + coded.count..<mdat + coded.count + exif.count, xmpAt..<xmpAt + xmp.count)
    }

    @Test(arguments: ["image/heic", "image/heif", "image/avif"])
    func aHEIFsExifAndXMPItemsAreBlankedWhereTheyLie(mimeType: String) throws {
        let xmp = Array("<x:xmpmeta><dc:creator>Ada Lovelace</dc:creator></x:xmpmeta>".utf8)
        let (original, exif, xmpRange) = Self.heic(exif: [0, 0, 0, 6] + Self.exif(orientation: 6), xmp: xmp)
        let stripped = try #require(ImageMetadata.stripped(original, mimeType: mimeType))
        // Nothing moved: the same length, and every byte outside the two items as it was
        #expect(stripped.count == original.count)
        for i in original.indices where !exif.contains(i) && !xmpRange.contains(i) { #expect(stripped[i] == original[i]) }
        #expect(!Self.contains(stripped, "48.8584N") && !Self.contains(stripped, "Ada Lovelace"))
        // The Exif item holds an empty Exif (a reader finds no entry), the XMP item spaces
        #expect(Array(stripped[exif].prefix(24)) == [0, 0, 0, 6] + Array("Exif".utf8) + [0, 0, 0x4D, 0x4D, 0, 0x2A, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0])
        #expect(stripped[xmpRange].allSatisfy { $0 == 0x20 })
        // Once is enough
        #expect(ImageMetadata.stripped(stripped, mimeType: mimeType) == nil)
    }

    @Test func aHEIFWithoutExifOrXMPOrCutShortIsKeptAsSent() {
        let (original, _, _) = Self.heic(exif: [0, 0, 0, 6] + Self.exif(orientation: nil), xmp: Array("<x/>".utf8))
        // Cut inside `meta`: its boxes no longer fit
        #expect(ImageMetadata.stripped(Array(original.prefix(120)), mimeType: "image/heic") == nil)
        // An Exif item whose extent runs past the end of the file
        #expect(ImageMetadata.stripped(Array(original.dropLast(3)), mimeType: "image/heic") == nil)
        // No `meta` at all
        #expect(ImageMetadata.stripped(Array(original.prefix(28)), mimeType: "image/heic") == nil)
    }

    /// Boxes whose numbers lie are read no further than they fit: an extent past the largest offset, an `iloc`
    /// without extent lengths (each extent would read nothing and its count could spin), an `iinf` counting an
    /// item it does not hold with a few bytes left at the end of the file. Each is stored as sent.
    @Test func aHEIFWhoseBoxesLieIsKeptAsSent() {
        let exifItem = Self.fullBox("iinf", version: 0, Self.u16(1) + Self.infe(1, "Exif"))
        func iloc(sizes: UInt8, _ extent: [UInt8]) -> [UInt8] {
            Self.fullBox("iloc", version: 1, [sizes, 0x00] + Self.u16(1) + Self.u16(1) + Self.u16(0) + Self.u16(0) + Self.u16(1) + extent)
        }
        func file(_ boxes: [UInt8]) -> [UInt8] {
            Self.isoBox("ftyp", Array("heic".utf8) + [0, 0, 0, 0]) + Self.fullBox("meta", version: 0, boxes)
                + Self.isoBox("mdat", [UInt8](repeating: 7, count: 64))
        }
        let past = iloc(sizes: 0x88, [0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xF0] + [0, 0, 0, 0, 0, 0, 1, 0])
        #expect(ImageMetadata.stripped(file(exifItem + past), mimeType: "image/heic") == nil)
        let noLengths = Self.fullBox("iloc", version: 1, [0x40, 0x00] + Self.u16(1) + Self.u16(1) + Self.u16(0) + Self.u16(0) + Self.u16(0xFFFF))
        #expect(ImageMetadata.stripped(file(exifItem + noLengths), mimeType: "image/heic") == nil)
        let miscounted = Self.fullBox("iinf", version: 0, Self.u16(2) + Self.infe(1, "Exif") + [0, 0, 0, 9, 1])
        let ending = Self.isoBox("ftyp", Array("heic".utf8) + [0, 0, 0, 0])
            + Self.fullBox("meta", version: 0, iloc(sizes: 0x44, Self.u32(0) + Self.u32(4)) + miscounted)
        #expect(ImageMetadata.stripped(ending, mimeType: "image/heic") == nil)
    }

    /// A HEIC made by libheif 1.23 (through pillow-heif) with a GPS position, a device name ("SECRETDEVICE") in its
    /// Exif and an author ("SECRETAUTHOR") in its XMP, `iloc` version 0 with base offsets, everything in `mdat`.
    static let libheifPhoto = Data(base64Encoded:
        "AAAAHGZ0eXBoZWljAAAAAG1pZjFoZWljbWlhZgAAAhJtZXRhAAAAAAAAACFoZGxyAAAAAAAAAABwaWN0AAAAAAAAAAAAAAAAAAAA"
        + "AEZpbG9jAAAAAERAAAMAAQAAAAACNgABAAAAAAAAAB8AAgAAAAACVQABAAAAAAAAANAAAwAAAAADJQABAAAAAAAAAO8AAABiaWlu"
        + "ZgAAAAAAAwAAABVpbmZlAgAAAAABAABodmMxAAAAABVpbmZlAgAAAQACAABFeGlmAAAAACppbmZlAgAAAQADAABtaW1lAGFwcGxp"
        + "Y2F0aW9uL3JkZit4bWwAAAAAAA5waXRtAAAAAAABAAABB2lwcnAAAADmaXBjbwAAAHZodmNDAQNwAAAAkAAAAAAAHvAA/P34+AAA"
        + "DwNgAAEAGEABDAH//wNwAAADAJAAAAMAAAMAHroCQGEAAQAqQgEBA3AAAAMAkAAAAwAAAwAeoCCBBZbq5Ka5uAhoMCAAAAMDIAAA"
        + "AwAhYgABAAZEAcFzwIkAAAATY29scm5jbHgAAQANAAaAAAAAFGlzcGUAAAAAAAAAQAAAAEAAAAAoY2xhcAAAAEAAAAABAAAAMAAA"
        + "AAEAAAAAAAAAAv////AAAAACAAAAEHBpeGkAAAAAAwgICAAAAAlpcm90AwAAABlpcG1hAAAAAAAAAAEAAQaBAgMFhIYAAAAoaXJl"
        + "ZgAAAAAAAAAOY2RzYwACAAEAAQAAAA5jZHNjAAMAAQABAAAB5m1kYXQAAAAbKAGvBPhxZNO3/4sP///1SN7L+1UXDtJ8A/b8AAAA"
        + "BkV4aWYAAE1NACoAAAAIAAQBDwACAAAABgAAAD4BEAACAAAAGwAAAEQBEgADAAAAAQAGAACIJQAEAAAAAQAAAGAAAAAAQXBwbGUA"
        + "aVBob25lIDE1IFBybyBTRUNSRVRERVZJQ0UAAAAEAAEAAgAAAAJOAAAAAAIABQAAAAMAAACWAAMAAgAAAAJFAAAAAAQABQAAAAMA"
        + "AACuAAAAAAAAADQAAAABAAAAHwAAAAEAAAJpAAAAMgAAAA0AAAABAAAAGAAAAAEAAAsXAAAAMjx4OnhtcG1ldGEgeG1sbnM6eD0i"
        + "YWRvYmU6bnM6bWV0YS8iPjxyZGY6UkRGIHhtbG5zOnJkZj0iaHR0cDovL3d3dy53My5vcmcvMTk5OS8wMi8yMi1yZGYtc3ludGF4"
        + "LW5zIyI+PHJkZjpEZXNjcmlwdGlvbiB4bWxuczpkYz0iaHR0cDovL3B1cmwub3JnL2RjL2VsZW1lbnRzLzEuMS8iPjxkYzpjcmVh"
        + "dG9yPlNFQ1JFVEFVVEhPUjwvZGM6Y3JlYXRvcj48L3JkZjpEZXNjcmlwdGlvbj48L3JkZjpSREY+PC94OnhtcG1ldGE+")!


    // MARK: TIFF

    /// A TIFF of either byte order, 2×2 grey pixels: its one directory holds the drawing fields, the orientation, a
    /// model and an artist (the artist's value fits in its entry), and pointers to an Exif directory (a date) and a
    /// GPS one (a latitude of three rationals). Laid out as: the header (8 bytes), the directory (11 entries,
    /// 8..<146), the Exif directory (146..<164), the GPS one (164..<194), the model, the date, the latitude, the
    /// pixels.
    static func tiff(littleEndian: Bool) -> [UInt8] {
        func u16(_ v: Int) -> [UInt8] {
            littleEndian ? [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF)] : [UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)]
        }
        func u32(_ v: Int) -> [UInt8] { littleEndian ? u16(v & 0xFFFF) + u16(v >> 16) : u16(v >> 16) + u16(v & 0xFFFF) }
        func entry(_ tag: Int, _ type: Int, _ count: Int, _ value: [UInt8]) -> [UInt8] {
            u16(tag) + u16(type) + u32(count) + value + [UInt8](repeating: 0, count: 4 - value.count)
        }
        let model = Array("Pixel 9 SN-48.8584N\u{0}".utf8)
        let date = Array("2026:01:02 03:04:05\u{0}".utf8)
        let latitude = u32(48) + u32(1) + u32(51) + u32(1) + u32(8584) + u32(100)
        let (modelAt, dateAt, latitudeAt) = (194, 194 + model.count, 194 + model.count + date.count)
        let pixelsAt = latitudeAt + latitude.count
        return (littleEndian ? [0x49, 0x49] : [0x4D, 0x4D]) + u16(42) + u32(8)
            + u16(11) + entry(256, 3, 1, u16(2)) + entry(257, 3, 1, u16(2)) + entry(258, 3, 1, u16(8))
            + entry(262, 3, 1, u16(1)) + entry(272, 2, model.count, u32(modelAt)) + entry(273, 4, 1, u32(pixelsAt))
            + entry(274, 3, 1, u16(6)) + entry(279, 4, 1, u32(4)) + entry(315, 2, 4, Array("Ada\u{0}".utf8))
            + entry(34665, 4, 1, u32(146)) + entry(34853, 4, 1, u32(164)) + u32(0)
            + u16(1) + entry(36867, 2, date.count, u32(dateAt)) + u32(0)
            + u16(2) + entry(1, 2, 2, Array("N\u{0}".utf8)) + entry(2, 5, 3, u32(latitudeAt)) + u32(0)
            + model + date + latitude + [0x10, 0x80, 0xC0, 0xFF]
    }

    @Test(arguments: [false, true])
    func aTIFFsModelArtistExifAndGPSAreBlankedWhereTheyLie(littleEndian: Bool) throws {
        let original = Self.tiff(littleEndian: littleEndian)
        #expect(Self.contains(original, "48.8584N") && Self.contains(original, "2026:01:02"))
        let stripped = try #require(ImageMetadata.stripped(original, mimeType: "image/tiff"))
        #expect(stripped.count == original.count)
        #expect(!Self.contains(stripped, "48.8584N") && !Self.contains(stripped, "2026:01:02"))
        // The directory as it was (the orientation and every offset), but for the artist's value in its entry
        let artist = 8 + 2 + 8 * 12 + 8
        for i in 0..<146 where !(artist..<artist + 4).contains(i) { #expect(stripped[i] == original[i]) }
        #expect(stripped[artist..<artist + 4].allSatisfy { $0 == 0 })
        // The Exif and GPS directories read as directories without entries; the values are zeros, the pixels stay
        #expect(stripped[146..<original.count - 4].allSatisfy { $0 == 0 })
        #expect(stripped.suffix(4) == [0x10, 0x80, 0xC0, 0xFF])
        #expect(ImageMetadata.stripped(stripped, mimeType: "image/tiff") == nil)
        // Cut short inside the directory: stored as sent
        #expect(ImageMetadata.stripped(Array(original.prefix(120)), mimeType: "image/tiff") == nil)
    }

    /// A TIFF made by Pillow 13 from a photo's Exif: a model ("SECRETDEVICE"), an artist ("SECRETARTIST"), an Exif
    /// directory with a date and maker's notes ("SECRETMAKERNOTE"), a GPS directory.
    static let pillowTIFF = Data(base64Encoded:
        "SUkqAAgAAAAPAAABBAABAAAABAAAAAEBBAABAAAAAwAAAAIBAwADAAAAwgAAAAMBAwABAAAAAQAAAAYBAwABAAAAAgAAABABAgAT"
        + "AAAAyAAAABEBBAABAAAAkgEAABIBAwABAAAABgAAABUBAwABAAAAAwAAABYBBAABAAAAAwAAABcBBAABAAAAJAAAABwBAwABAAAA"
        + "AQAAADsBAgANAAAA3AAAAGmHBAABAAAA6gAAACWIBAABAAAALAEAAAAAAAAIAAgACABQaXhlbCBTRUNSRVRERVZJQ0UAAFNFQ1JF"
        + "VEFSVElTVAAAAgADkAIAFAAAAAgBAAB8kgEADwAAABwBAAAAAAAAMjAyNjowMTowMiAwMzowNDowNQBTRUNSRVRNQUtFUk5PVEUA"
        + "BAABAAIAAgAAAE4AAAACAAUAAwAAAGIBAAADAAIAAgAAAEUAAAAEAAUAAwAAAHoBAAAAAAAANAAAAAEAAAAfAAAAAQAAAGkCAAAy"
        + "AAAADQAAAAEAAAAYAAAAAQAAABcLAAAyAAAAFKAeFKAeFKAeFKAeFKAeFKAeFKAeFKAeFKAeFKAeFKAeFKAe")!

    /// Files as real encoders make them (libheif's HEIC, Pillow's TIFF) lose every marker planted in their
    /// metadata, keep their size (both are blanked in place) and their kind, and are left alone the second time.
    @Test(arguments: [
        ("image/heic", ["SECRETDEVICE", "SECRETAUTHOR"]),
        ("image/tiff", ["SECRETDEVICE", "SECRETARTIST", "SECRETMAKERNOTE", "2026:01:02"]),
    ])
    func aRealPhotoLosesItsPositionDeviceAndAuthor(mimeType: String, markers: [String]) throws {
        let original = [UInt8](mimeType == "image/heic" ? Self.libheifPhoto : Self.pillowTIFF)
        for marker in markers { #expect(Self.contains(original, marker)) }
        let stripped = try #require(ImageMetadata.stripped(original, mimeType: mimeType))
        #expect(stripped.count == original.count)
        for marker in markers { #expect(!Self.contains(stripped, marker), "\(marker)") }
        #expect(ImageInfo.sniff(stripped)?.mimeType == mimeType)
        #expect(ImageMetadata.stripped(stripped, mimeType: mimeType) == nil)
    }

    // MARK: Damaged files

    /// SplitMix64: a seeded generator, so that every run walks the same cases.
    struct Seeded: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// Uploads are anyone's bytes: every walk above meets cut, garbled and grown structures (lengths, counts and
    /// offsets among them) without trapping or looping, and what it makes is never larger than what came by more
    /// than the orientation's own segment, nor of another size for the formats blanked in place. Each of nine
    /// images, damaged 3,000 ways, read as each of the seven kinds.
    @Test func damagedImagesOfEveryKindAreWalkedSafely() throws {
        var random = Seeded(state: 0x5EED_F00D)
        let samples: [[UInt8]] = [
            Self.jpeg(metadata: [Self.segment(0xE1, Self.exif(orientation: 6)), Self.segment(0xFE, Array("note".utf8))]),
            Self.png(extra: [Self.chunk("tEXt", Array("Author".utf8) + [0] + Array("Ada".utf8))]),
            Self.webp(extra: [Self.riffChunk("EXIF", Array(Self.exif(orientation: 3).dropFirst(6)))], flags: 0x18),
            Self.gif(extensions: [Self.netscapeLoop, Self.gifExtension(0xFE, Array("a comment".utf8))]),
            Self.heic(exif: [0, 0, 0, 6] + Self.exif(orientation: 6), xmp: Array("<x:xmpmeta/>".utf8)).file,
            [UInt8](Self.libheifPhoto), Self.tiff(littleEndian: true), Self.tiff(littleEndian: false),
            [UInt8](Self.pillowTIFF),
        ]
        let kinds = ["image/jpeg", "image/png", "image/webp", "image/gif", "image/heic", "image/avif", "image/tiff"]
        for sample in samples {
            for _ in 0..<3_000 {
                var bytes = sample
                for _ in 0..<Int.random(in: 1...4, using: &random) where !bytes.isEmpty {
                    let at = Int.random(in: 0..<bytes.count, using: &random)
                    switch Int.random(in: 0..<5, using: &random) {
                    case 0: bytes[at] = UInt8.random(in: 0...255, using: &random)
                    case 1: bytes[at] = [0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF].randomElement(using: &random)!
                    case 2: bytes = Array(bytes.prefix(at))
                    case 3:
                        // A length, count or offset at an extreme: 2, 4 or 8 bytes of 0x00, 0x7F…, 0x80… or 0xFF….
                        let width = [2, 4, 8].randomElement(using: &random)!
                        let fill: [UInt8] = [[0x00], [0x7F, 0xFF], [0x80, 0x00], [0xFF]].randomElement(using: &random)!
                        for k in 0..<width where at + k < bytes.count { bytes[at + k] = k == 0 ? fill[0] : fill.last! }
                    default: bytes.insert(contentsOf: (0..<Int.random(in: 1...8, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }, at: at)
                    }
                }
                for kind in kinds {
                    guard let out = ImageMetadata.stripped(bytes, mimeType: kind) else { continue }
                    #expect(out.count <= bytes.count + 64, "\(kind)")
                    if ["image/heic", "image/avif", "image/tiff"].contains(kind) { #expect(out.count == bytes.count, "\(kind)") }
                }
            }
        }
    }

    // MARK: Files

    /// The upload path rewrites its spool file: the bytes on disk are the stripped ones and the size answered is theirs.
    @Test func aSpooledFileIsRewrittenInPlace() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("usero-meta-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("upload.part").path
        let original = Self.jpeg(metadata: [Self.segment(0xE1, Self.exif(orientation: 8))])
        #expect(FileManager.default.createFile(atPath: path, contents: Data(original)))
        let size = try #require(try ImageMetadata.strip(fileAt: path, mimeType: "image/jpeg"))
        let onDisk = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(Int(size) == onDisk.count)
        #expect(onDisk == ImageMetadata.stripped(original, mimeType: "image/jpeg"))
        #expect(Self.orientation(of: onDisk) == 8)
        // Nothing else is left in the folder, and a file with nothing to take out is not touched.
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["upload.part"])
        #expect(try ImageMetadata.strip(fileAt: path, mimeType: "image/jpeg") == nil)
    }
}
