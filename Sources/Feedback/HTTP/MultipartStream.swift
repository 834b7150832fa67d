import NIOCore

/// A `multipart/form-data` body read as it arrives, chunk by chunk: the framing of `MultipartForm` (the same rules)
/// without holding the body. A part's bytes are handed on in pieces, each a slice of the chunk they came in (no
/// copy), so an upload can go to a file while memory holds one chunk.
///
/// Only a few bytes are ever kept between chunks: an unfinished header line, or the end of a chunk that could be the
/// start of the next delimiter.
struct MultipartStream {
    /// What the body holds, in order.
    enum Event {
        /// A part's headers ended; its bytes follow.
        case partBegan(MultipartForm.Part.Headers)
        /// Some of the current part's bytes.
        case bytes(ByteBuffer)
        /// The current part's closing delimiter arrived: its bytes are complete.
        case partEnded
    }

    private enum State {
        case preamble, afterDelimiter, headers, body, done
    }

    /// Most bytes of one part's headers (every line together): a browser sends about 150.
    static let maxHeaderBytes = 16 * 1024

    private let delimiter: [UInt8]
    private var state = State.preamble
    /// Bytes not yet framed: at most a header block, or the tail of a chunk that may begin a delimiter.
    private var pending = ByteBuffer()
    private var headers = MultipartForm.Part.Headers()
    private var headerBytes = 0
    /// Whether no byte has arrived yet (the first delimiter may start the body without its CR LF).
    private var atStart = true

    init(boundary: String) {
        delimiter = Array("\r\n--\(boundary)".utf8)
    }

    /// Frames `chunk`, handing each event to `handle` as it is found.
    mutating func consume(_ chunk: ByteBuffer, _ handle: (Event) throws -> Void) throws {
        if case .done = state { return }
        if pending.readableBytes == 0 {
            pending = chunk
        } else {
            var chunk = chunk
            pending.writeBuffer(&chunk)
        }
        if atStart {
            // "--BOUNDARY" at the very start counts as a delimiter: pretend its CR LF arrived before it.
            let opening = delimiter.count - 2
            guard pending.readableBytes >= opening else { return }
            atStart = false
            if pending.readableBytesView.prefix(opening).elementsEqual(delimiter[2...]) {
                pending.moveReaderIndex(forwardBy: opening)
                state = .afterDelimiter
            }
        }
        while try step(handle) {}
        if pending.readableBytes == 0 { pending = ByteBuffer() } else if pending.readerIndex > 64 * 1024 {
            pending.discardReadBytes()
        }
    }

    /// Frames what `pending` holds as far as it can; false when more bytes are needed.
    private mutating func step(_ handle: (Event) throws -> Void) throws -> Bool {
        switch state {
        case .done:
            return false
        case .preamble:
            if let found = find(delimiter) {
                pending.moveReaderIndex(forwardBy: found + delimiter.count)
                state = .afterDelimiter
                return true
            }
            keepPossibleDelimiterStart()
            return false
        case .afterDelimiter:
            // "-" closes the body, CR LF opens a part.
            guard let first = pending.readableBytesView.first else { return false }
            if first == UInt8(ascii: "-") {
                state = .done
                pending = ByteBuffer()
                return false
            }
            guard first == 13 else { throw FeedbackError.malformedMultipart }
            guard pending.readableBytes >= 2 else { return false }
            guard pending.readableBytesView.dropFirst().first == 10 else { throw FeedbackError.malformedMultipart }
            pending.moveReaderIndex(forwardBy: 2)
            headers = .init()
            headerBytes = 0
            state = .headers
            return true
        case .headers:
            guard let lineEnd = find([13, 10]) else {
                guard headerBytes + pending.readableBytes <= Self.maxHeaderBytes else {
                    throw FeedbackError.malformedMultipart
                }
                return false
            }
            headerBytes += lineEnd + 2
            guard headerBytes <= Self.maxHeaderBytes else { throw FeedbackError.malformedMultipart }
            let line = pending.readSlice(length: lineEnd)!
            pending.moveReaderIndex(forwardBy: 2)
            if line.readableBytes == 0 {
                state = .body
                try handle(.partBegan(headers))
                return true
            }
            try line.withUnsafeReadableBytes { raw in
                guard let (name, value) = MultipartForm.headerLine(raw) else { throw FeedbackError.malformedMultipart }
                headers.add(name: name, value: value)
            }
            return true
        case .body:
            if let found = find(delimiter) {
                if found > 0 { try handle(.bytes(pending.readSlice(length: found)!)) }
                pending.moveReaderIndex(forwardBy: delimiter.count)
                state = .afterDelimiter
                try handle(.partEnded)
                return true
            }
            let keep = possibleDelimiterStart()
            let ready = pending.readableBytes - keep
            if ready > 0 { try handle(.bytes(pending.readSlice(length: ready)!)) }
            return false
        }
    }

    /// Where `needle` first occurs in `pending`'s readable bytes.
    private func find(_ needle: [UInt8]) -> Int? {
        pending.withUnsafeReadableBytes { raw in
            guard let base = raw.baseAddress else { return nil }
            let bytes = base.assumingMemoryBound(to: UInt8.self)
            if needle.count == 2 { return MultipartForm.nextCRLF(in: bytes, count: raw.count, from: 0) }
            return MultipartForm.nextDelimiter(needle, in: bytes, count: raw.count, from: 0)
        }
    }

    /// How many bytes at the end of `pending` could be the beginning of a delimiter still to arrive: from the last
    /// CR among the final `delimiter.count - 1` bytes, if what follows it matches the delimiter so far.
    private func possibleDelimiterStart() -> Int {
        pending.withUnsafeReadableBytes { raw in
            let count = raw.count
            var start = max(0, count - (delimiter.count - 1))
            while start < count {
                if raw[start] == 13, (start..<count).allSatisfy({ raw[$0] == delimiter[$0 - start] }) {
                    return count - start
                }
                start += 1
            }
            return 0
        }
    }

    private mutating func keepPossibleDelimiterStart() {
        let keep = possibleDelimiterStart()
        pending.moveReaderIndex(forwardBy: pending.readableBytes - keep)
    }
}
