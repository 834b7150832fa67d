/// A secret string (bot token, signing or client secret) that prints and dumps as `<redacted>`.
///
/// Reading `.value` is deliberate and greppable: it is the only way to the plaintext.
public struct Redacted<Value: Sendable>: Sendable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    /// The secret itself.
    public let value: Value

    /// Wraps a secret.
    public init(_ value: Value) {
        self.value = value
    }

    /// Always `<redacted>`.
    public var description: String { "<redacted>" }
    /// Always `<redacted>`.
    public var debugDescription: String { "<redacted>" }
    /// No children, so `dump` shows nothing of the value.
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}
