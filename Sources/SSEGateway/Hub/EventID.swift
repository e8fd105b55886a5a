import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Generates the ids of updates whose publisher did not choose one, in the Mercure hub's `urn:uuid:<UUIDv7>` form.
///
/// UUIDv7 ids sort by creation time, and ids from this process are strictly increasing even within one
/// millisecond, so "later" can be decided by comparing id strings (RFC 9562 §6.2, method 1: the 12-bit `rand_a`
/// field is a counter seeded randomly each millisecond).
public enum EventID {
    private struct State {
        var milliseconds: UInt64 = 0
        var counter: UInt16 = 0
        /// Random words from the system's generator, 256 bytes at a time (what one `getentropy` gives): one system
        /// call per 32 words rather than one per word, and still the kernel's cryptographic randomness.
        var pool = [UInt64](repeating: 0, count: 32)
        var used = 32

        mutating func nextRandom() -> UInt64 {
            if self.used == self.pool.count {
                self.pool.withUnsafeMutableBytes { Self.fill($0) }
                self.used = 0
            }
            defer { self.used += 1 }
            return self.pool[self.used]
        }

        private static func fill(_ bytes: UnsafeMutableRawBufferPointer) {
            #if canImport(Glibc) || canImport(Musl) || canImport(Darwin)
                if getentropy(bytes.baseAddress!, bytes.count) == 0 { return }
            #endif
            var generator = SystemRandomNumberGenerator()
            for offset in stride(from: 0, to: bytes.count, by: 8) {
                bytes.storeBytes(of: generator.next(), toByteOffset: offset, as: UInt64.self)
            }
        }
    }

    private static let state = Mutex(State())

    /// A new `urn:uuid:` id, greater as a string than every id this process generated before.
    public static func generate() -> String {
        let now = currentMilliseconds()
        let (milliseconds, counter, random) = state.withLock { state -> (UInt64, UInt16, UInt64) in
            if now > state.milliseconds {
                state.milliseconds = now
                // Seed below 2^11 so the counter has room to grow within the millisecond.
                state.counter = UInt16(truncatingIfNeeded: state.nextRandom() & 0x7FF)
            } else if state.counter < 0xFFF {
                state.counter += 1
            } else {
                // Counter exhausted (or the clock went back): borrow the next millisecond to stay monotonic.
                state.milliseconds += 1
                state.counter = UInt16(truncatingIfNeeded: state.nextRandom() & 0x7FF)
            }
            return (state.milliseconds, state.counter, state.nextRandom())
        }
        return format(milliseconds: milliseconds, counter: counter, random: random)
    }

    /// Lays out the UUID fields; split out so the layout can be checked with fixed inputs.
    static func format(milliseconds: UInt64, counter: UInt16, random: UInt64) -> String {
        var bytes = [UInt8](repeating: 0, count: 16)
        for index in 0..<6 {
            bytes[index] = UInt8(truncatingIfNeeded: milliseconds >> UInt64(8 * (5 - index)))
        }
        bytes[6] = 0x70 | UInt8(truncatingIfNeeded: (counter >> 8) & 0x0F)
        bytes[7] = UInt8(truncatingIfNeeded: counter)
        for index in 8..<16 {
            bytes[index] = UInt8(truncatingIfNeeded: random >> UInt64(8 * (15 - index)))
        }
        bytes[8] = 0x80 | (bytes[8] & 0x3F)

        let prefix: StaticString = "urn:uuid:"
        return String(unsafeUninitializedCapacity: prefix.utf8CodeUnitCount + 36) { buffer in
            var position = 0
            prefix.withUTF8Buffer { utf8 in
                for byte in utf8 {
                    buffer[position] = byte
                    position += 1
                }
            }
            for (index, byte) in bytes.enumerated() {
                if index == 4 || index == 6 || index == 8 || index == 10 {
                    buffer[position] = UInt8(ascii: "-")
                    position += 1
                }
                buffer[position] = hexDigit(byte >> 4)
                buffer[position + 1] = hexDigit(byte & 0x0F)
                position += 2
            }
            return position
        }
    }

    private static func hexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
    }

    private static func currentMilliseconds() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return UInt64(time.tv_sec) * 1000 + UInt64(time.tv_nsec) / 1_000_000
    }
}
