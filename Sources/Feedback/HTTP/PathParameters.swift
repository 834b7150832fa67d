import Foundation
public import Hummingbird

extension Parameters {
    /// The path parameter `name` as the client meant it. Hummingbird hands a path component over as it arrived, so an
    /// end user identified as `a b` or `jamie@example.com` is asked for as `a%20b` or `jamie%40example.com`; this
    /// undoes the escapes (query parameters arrive decoded already). Nil when the parameter is absent, its escapes
    /// do not spell UTF-8, or it holds NUL (`%00`), none of which a stored id does: the route answers 404. (SQLite's C
    /// API would end the text at NUL and find the id before it.)
    public func decoded(_ name: String) -> String? {
        guard let raw = get(name) else { return nil }
        guard raw.utf8.contains(UInt8(ascii: "%")) else { return raw }
        guard let text = raw.removingPercentEncoding, !text.containsNUL else { return nil }
        return text
    }
}
