/// A content coding of an event stream's body (RFC 9110 §8.4.1), as negotiated from `Accept-Encoding`.
public enum ContentCoding: String, Sendable, Hashable {
    /// No coding: the stream's bytes go out as the hub encoded them.
    case identity
    /// The gzip file format (RFC 1952).
    case gzip
    /// The zlib format (RFC 1950), which is what `deflate` names in HTTP, not a raw deflate stream.
    case deflate

    /// The codings this middleware can apply, in its default order of preference.
    public static let compressing: [ContentCoding] = [.gzip, .deflate]

    /// The `windowBits` argument of `deflateInit2` that selects this coding's wrapper around a window of `bits`.
    func zlibWindowBits(_ bits: Int) -> Int32 {
        switch self {
        case .gzip: Int32(bits + 16)
        case .deflate, .identity: Int32(bits)
        }
    }
}
