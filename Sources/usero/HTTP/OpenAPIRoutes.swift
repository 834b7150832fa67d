import Feedback
import Hummingbird

/// `GET /openapi.json`: the OpenAPI 3.1 description of every route (`OpenAPIDocument.json`).
struct OpenAPIRoutes: Sendable {
    static let body = Array(OpenAPIDocument.json.utf8)

    func register<Context: RequestContext>(on router: Router<Context>) {
        router.get("openapi.json") { _, _ -> Response in
            Response(
                status: .ok,
                headers: JSONResponse.headers + [.cacheControl: "public, max-age=300"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: Self.body)))
        }
    }
}
