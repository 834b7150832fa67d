import Foundation
import HTTPTypes
public import Hummingbird

/// The public routes browsers, apps and servers call: no auth but the `clientId`.
public struct PublicRoutes<Context: RequestContext>: Sendable {
    /// The feedback rules.
    public let service: FeedbackService

    /// Largest JSON body (1 MB).
    public static var jsonLimit: Int { 1024 * 1024 }
    /// Largest screenshot upload body: the 10 MB file plus room for the multipart framing.
    public static var uploadLimit: Int { FeedbackService.maxScreenshotBytes + 256 * 1024 }

    /// Creates the routes.
    public init(service: FeedbackService) {
        self.service = service
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
            origin: request.headers[.origin])
        // Ids are lowercase letters, digits and `_`: nothing to escape, and no encoder on the hot path.
        return JSONResponse.raw(#"{"success":true,"feedbackId":"\#(item.id)"}"#)
    }

    @Sendable func upload(_ request: Request, context: Context) async throws -> Response {
        // One buffer for the whole body (the rate limit may have collected it already: then it is that buffer);
        // the file part is a slice of it, and the store writes it from there.
        var request = request
        let body = try await request.collectWholeBody(upTo: Self.uploadLimit)
        let form = try MultipartForm(contentType: request.headers[.contentType], body: body)
        let file = form.part(named: "screenshot")
        let clientId = form.part(named: "clientId")?.text
        let screenshot = try await service.uploadScreenshot(
            clientId: clientId?.trimmingCharacters(in: .whitespacesAndNewlines), declaredType: file?.contentType,
            buffer: file?.bytes, origin: request.headers[.origin])
        return JSONResponse.make(Uploaded(success: true, screenshot: screenshot))
    }

    @Sendable func download(_ request: Request, context: Context) async throws -> Response {
        let clientId = context.parameters.get("clientId") ?? ""
        let file = context.parameters.get("file") ?? ""
        guard let found = try await service.screenshotFile(clientId: clientId, file: file) else {
            throw FeedbackError.notFound
        }
        var headers = HTTPFields()
        headers[.contentType] = found.mimeType
        headers[.cacheControl] = "private, max-age=86400"
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        headers[.contentSecurityPolicy] = "default-src 'none'"
        switch found.contents {
        case .file(let path, _):
            // Streamed from disk in 128 KB chunks: a download holds one chunk in memory, not the whole file.
            let body = try await FileIO().loadFile(path: path, context: context)
            return Response(status: .ok, headers: headers, body: body)
        case .bytes(let bytes):
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
        }
    }
}

struct Uploaded: Encodable {
    var success: Bool
    var screenshot: ScreenshotRef
}
