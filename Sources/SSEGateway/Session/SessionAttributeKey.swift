/// A typed key for ``Session`` attributes, so middleware can attach state without colliding with others.
///
/// ```swift
/// enum RequestStart: SessionAttributeKey { typealias Value = ContinuousClock.Instant }
/// session[RequestStart.self] = .now
/// ```
public protocol SessionAttributeKey {
    associatedtype Value: Sendable
}
