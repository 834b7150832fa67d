import Foundation
import HTTPTypes
public import Hummingbird
import UseroCrypto

/// `GET /widget.js` (the drop-in widget, for any origin) and `GET /widget/demo` (a host page to try it on).
/// The widget script's bytes and their strong validator, computed once.
enum WidgetAsset {
    static let script = Array(WidgetScript.source.utf8)
    static let etag = "\"" + Hex.encode(SHA256.hash(script).prefix(16)) + "\""
}

public struct WidgetRoutes<Context: RequestContext>: Sendable {

    /// Creates the routes.
    public init() {}

    /// Adds `/widget.js` and the demo page.
    public func register(on router: Router<Context>) {
        router.get("widget.js", use: Self.widget)
        router.get("widget/demo", use: Self.demoPage)
        router.get("widget/demo.js", use: Self.demoScript)
    }

    /// The script, cacheable for five minutes and revalidated by ETag, so an upgrade reaches pages quickly.
    @Sendable static func widget(_ request: Request, context: Context) async throws -> Response {
        var headers: HTTPFields = [
            .contentType: "application/javascript; charset=utf-8",
            .accessControlAllowOrigin: "*",
            .cacheControl: "public, max-age=300",
            .eTag: WidgetAsset.etag,
            .xContentTypeOptions: "nosniff",
        ]
        headers[HTTPField.Name("Cross-Origin-Resource-Policy")!] = "cross-origin"
        // Weak comparison (RFC 9110, 13.1.2): a compressing proxy in front hands browsers `W/"…"` for our tag.
        if let match = request.headers[.ifNoneMatch], match.split(separator: ",").contains(where: {
            let tag = $0.trimmingCharacters(in: .whitespaces)
            return tag == "*" || (tag.hasPrefix("W/") ? String(tag.dropFirst(2)) : tag) == WidgetAsset.etag
        }) {
            return Response(status: .notModified, headers: headers)
        }
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: WidgetAsset.script)))
    }

    @Sendable static func demoPage(_ request: Request, context: Context) async throws -> Response {
        var headers: HTTPFields = [
            .contentType: "text/html; charset=utf-8", .cacheControl: "no-cache", .xContentTypeOptions: "nosniff",
            // On the inbox's origin, so never in another site's frame (as the inbox's pages).
            .contentSecurityPolicy:
                "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
        ]
        headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: WidgetDemo.html)))
    }

    @Sendable static func demoScript(_ request: Request, context: Context) async throws -> Response {
        Response(
            status: .ok,
            headers: [
                .contentType: "application/javascript; charset=utf-8", .cacheControl: "no-cache",
                .xContentTypeOptions: "nosniff",
            ],
            body: ResponseBody(byteBuffer: ByteBuffer(string: WidgetDemo.script)))
    }
}

/// A small host page for trying the widget: `/widget/demo?clientId=client_…`.
enum WidgetDemo {
    static let html = #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Acme Analytics · usero widget demo</title>
        <style>
        body{margin:0;font-family:Georgia,serif;background:#fbfaf7;color:#222}
        header{background:#0f3d3e;color:#fff;padding:18px 32px;font-size:20px;font-weight:bold}
        main{max-width:760px;margin:32px auto;padding:0 24px}
        h1{font-size:30px}p{line-height:1.6}
        .cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(180px,1fr));gap:16px;margin:24px 0}
        .card{background:#fff;border:1px solid #e3e0d8;border-radius:8px;padding:16px}
        .card b{display:block;font-size:26px;margin-top:6px}
        code{background:#efece4;padding:2px 5px;border-radius:4px}
        </style>
        </head>
        <body>
        <header>Acme Analytics</header>
        <main>
        <h1>Weekly report</h1>
        <p>This page hosts the usero feedback widget the way a customer's site would: one script tag and one call to
        <code>initUseroFeedbackWidget({ clientId })</code>. Open it with the button in the corner.</p>
        <div class="cards">
        <div class="card">Visitors<b>12,480</b></div>
        <div class="card">Sign-ups<b>342</b></div>
        <div class="card">Conversion<b>2.7%</b></div>
        </div>
        <p id="demo-status">Pass <code>?clientId=client_…</code> in the address to send feedback to your inbox.</p>
        </main>
        <script src="/widget.js"></script>
        <script src="/widget/demo.js"></script>
        </body>
        </html>
        """#

    static let script = #"""
        (function () {
          var clientId = new URLSearchParams(location.search).get('clientId');
          if (!clientId) return;
          var status = document.getElementById('demo-status');
          status.textContent = 'Feedback from this page goes to ' + clientId + '.';
          // Whoever tries the widget here is its developer: say what a refusal means and how to mend it.
          initUseroFeedbackWidget({ clientId: clientId, metadata: { demo: true }, onError: function (e) {
            if (e.status === 404) {
              status.textContent = 'usero knows no client ' + clientId + ' (or it is being closed): check the clientId ' +
                'in the address; usero clients list shows them.';
            } else if (e.status === 403) {
              status.textContent = 'Client ' + clientId + "'s allowlist leaves out this page's origin, " + location.origin +
                ': add it with usero clients update ' + clientId + ' --allowed-origin ' + location.origin +
                ' (with the origins it has), or clear the list with --any-origin.';
            }
          } });
        })();
        """#
}
