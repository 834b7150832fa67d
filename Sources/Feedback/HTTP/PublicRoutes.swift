import Foundation
import HTTPTypes
import NIOCore
public import Hummingbird

/// The public routes browsers, apps and servers call: no auth but the `clientId`.
public struct PublicRoutes<Context: RequestContext>: Sendable {
    /// The feedback rules.
    public let service: FeedbackService

    /// Largest JSON body (1 MB).
    public static var jsonLimit: Int { 1024 * 1024 }
    /// Largest screenshot upload body: the 10 MB file plus room for the multipart framing and the other fields.
    public static var uploadLimit: Int { FeedbackService.maxScreenshotBytes + 256 * 1024 }

    /// Where uploads are written as they arrive, before the store takes them over: on the same file system as the
    /// stored screenshots, so taking one over is a rename.
    public let spoolDirectory: String
    /// The public rate limit's answer for an upload's `clientId`, asked as soon as that field has arrived: nil to go
    /// on, or the seconds to wait.
    public let admitClient: @Sendable (String) -> Int?

    /// Creates the routes.
    public init(
        service: FeedbackService, spoolDirectory: String, admitClient: @escaping @Sendable (String) -> Int? = { _ in nil }
    ) {
        self.service = service
        self.spoolDirectory = spoolDirectory
        self.admitClient = admitClient
    }

    /// Adds the routes to `router`'s group at `api`.
    public func register(on group: RouterGroup<Context>) {
        group.post("feedback", use: submit)
        group.post("screenshots", use: upload)
        group.get("screenshots/:clientId/:file", use: download)
    }

    @Sendable func submit(_ request: Request, context: Context) async throws -> Response {
        let body = try await request.collectBody(limit: Self.jsonLimit)
        let item = try await service.submit(
            body: body,
            context: .init(isWidget: request.header("X-Usero-Widget") != nil, referer: request.headers[.referer]),
            origin: request.headers[.origin], idempotencyKey: request.headers[idempotencyKeyField])
        // Ids are lowercase letters, digits and `_`: nothing to escape, and no encoder on the hot path.
        return JSONResponse.raw(#"{"success":true,"feedbackId":"\#(item.id)"}"#)
    }

    @Sendable func upload(_ request: Request, context: Context) async throws -> Response {
        // Read as it arrives: the file goes to a spool file chunk by chunk (memory holds one chunk, not 10 MB), the
        // `clientId` is checked against the rate limit as soon as its part ends, and the store takes the file over.
        try request.requireUncompressedBody()
        guard let contentType = request.headers[.contentType], let boundary = MultipartForm.boundary(of: contentType)
        else { throw FeedbackError.malformedMultipart }
        try request.refuseDeclaredLength(over: Self.uploadLimit)
        let admitClient = self.admitClient
        let reader = UploadReader(
            spoolDirectory: spoolDirectory, bodyLimit: Self.uploadLimit, fileLimit: FeedbackService.maxScreenshotBytes,
            admit: { id in
                if let wait = admitClient(id) { throw FeedbackError.rateLimited(retryAfterSeconds: wait) }
            })
        let upload = try await reader.read(request.body, boundary: boundary)
        defer { upload.file?.discard() }
        let screenshot = try await service.uploadScreenshot(
            clientId: upload.clientId?.trimmingSurroundingWhitespace, declaredType: upload.fileType,
            spooled: upload.file, origin: request.headers[.origin])
        // In the public docs' order (`success` first), as the feedback answer is.
        var text = #"{"success":true,"screenshot":"#
        screenshot.appendJSON(to: &text)
        text += "}"
        return JSONResponse.raw(text)
    }

    @Sendable func download(_ request: Request, context: Context) async throws -> Response {
        let clientId = context.parameters.decoded("clientId") ?? ""
        let file = context.parameters.decoded("file") ?? ""
        guard let found = try await service.screenshotFile(clientId: clientId, file: file) else {
            throw FeedbackError.notFound
        }
        AccessRecord.note(clientID: clientId)
        var headers = HTTPFields()
        headers[.contentType] = found.mimeType
        // Not kept by the browser: a deleted, erased or swept screenshot is gone from the viewer's cache too, not
        // shown from it for a day.
        headers[.cacheControl] = "private, no-store"
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        headers[.contentSecurityPolicy] = "default-src 'none'"
        switch found.contents {
        case .file(let path, _):
            // Streamed from disk in 128 KB chunks: a download holds one chunk in memory, not the whole file.
            let body = try await FileIO().loadFile(path: path, context: context)
            return Response(status: .ok, headers: headers, body: body)
        case .bytes(let bytes):
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
        case .pieces(let pieces, let size):
            // Fetched and sent one piece (at most 1 MB) at a time. A screenshot deleted half-way ends the response
            // early; its declared length tells the client it is cut off.
            return Response(
                status: .ok, headers: headers,
                body: ResponseBody(contentLength: Int(size)) { writer in
                    for index in 0..<pieces.count {
                        guard let piece = try await pieces.fetch(index) else { throw FeedbackError.notFound }
                        try await writer.write(piece)
                    }
                    try await writer.finish(nil)
                })
        }
    }
}

/// The header a client names a submission with (`SubmissionKey`).
private let idempotencyKeyField = HTTPField.Name("Idempotency-Key")!

