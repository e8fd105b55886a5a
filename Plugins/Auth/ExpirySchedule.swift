import Foundation
import NIOCore

/// When a session whose token expires must close.
///
/// Like the Mercure hub, it closes at a random 80–100 % of the token's remaining lifetime, so a fleet of clients
/// that got their tokens in the same second does not reconnect in the same second.
enum ExpirySchedule {
    /// The fraction of the remaining lifetime after which the session closes.
    static let spread: ClosedRange<Double> = 0.8...1.0
    /// Beyond this no timer is armed: it could never fire, and the delay would not fit a `TimeAmount`.
    static let horizon: TimeInterval = 100 * 365 * 86_400

    /// The delay before closing, or nil when no timer is needed; `fraction` is clamped into ``spread``.
    static func delay(until expiry: Date, now: Date, fraction: Double) -> TimeAmount? {
        let remaining = expiry.timeIntervalSince(now)
        guard remaining < self.horizon else { return nil }
        let clamped = min(max(fraction, self.spread.lowerBound), self.spread.upperBound)
        let seconds = max(0, remaining) * clamped
        return .nanoseconds(Int64((seconds * 1e9).rounded(.down)))
    }
}
