import Foundation

/// How the stores keep values that have no column type of their own (JSON text), shared by every backend so that
/// what one writes the other reads back the same. Each reader returns nil for text it cannot read; the store names
/// the table and column in its own decoding error.
public enum StoredColumns {
    /// `client.allowed_origins`: a JSON array of strings.
    public static func originsText(_ origins: [String]) -> String {
        JSONValue.array(origins.map(JSONValue.string)).jsonText
    }

    public static func origins(_ text: String) -> [String]? {
        // Most clients allow every origin, and every submission reads its client inside the write.
        if text == "[]" { return [] }
        guard case .array(let values)? = JSONValue.parse(Array(text.utf8)) else { return nil }
        var origins: [String] = []
        for value in values {
            guard case .string(let origin) = value else { return nil }
            origins.append(origin)
        }
        return origins
    }

    /// `feedback.screenshots`: a JSON array of screenshot objects, `[]` when there are none.
    public static func screenshotsText(_ screenshots: [ScreenshotRef]) throws -> String {
        screenshots.isEmpty ? "[]" : String(decoding: try JSONEncoder().encode(screenshots), as: UTF8.self)
    }

    public static func screenshots(_ text: String) -> [ScreenshotRef]? {
        if text == "[]" { return [] }
        return try? JSONDecoder().decode([ScreenshotRef].self, from: Data(text.utf8))
    }

    /// `feedback.metadata`: any JSON value.
    public static func json(_ text: String) -> JSONValue? {
        JSONValue.parse(Array(text.utf8))
    }

    /// `end_user.traits`: a JSON object.
    public static func object(_ text: String) -> [String: JSONValue]? {
        guard case .object(let object)? = JSONValue.parse(Array(text.utf8)) else { return nil }
        return object
    }
}
