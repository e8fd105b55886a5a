public import Foundation

extension AuthMiddleware {
    /// What the middleware takes from its surroundings, replaceable so expiry can be tested deterministically.
    public struct Dependencies: Sendable {
        /// The current time, against which `exp` and `nbf` are checked.
        public var now: @Sendable () -> Date
        /// A number within the given range: the fraction of a token's remaining lifetime after which its session
        /// closes.
        public var random: @Sendable (ClosedRange<Double>) -> Double

        public init(
            now: @escaping @Sendable () -> Date,
            random: @escaping @Sendable (ClosedRange<Double>) -> Double
        ) {
            self.now = now
            self.random = random
        }

        /// The system clock and random source.
        public static let system = Dependencies(now: { Date() }, random: { Double.random(in: $0) })
    }
}
