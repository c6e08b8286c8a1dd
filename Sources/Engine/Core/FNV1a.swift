/// FNV-1a, 64-bit (Fowler–Noll–Vo): a fast non-cryptographic hash, fed one word at a time, for
/// fingerprints (replica checks, host ids). Equal inputs give equal values on every machine.
public struct FNV1a {
    @usableFromInline var state: UInt64 = 0xcbf2_9ce4_8422_2325

    /// The hash of everything combined so far.
    @inlinable public var value: UInt64 { state }

    @inlinable public init() {}

    /// Mixes in one word (a byte, or a float's bit pattern).
    @inlinable public mutating func combine(_ word: UInt64) {
        state = (state ^ word) &* 0x100_0000_01b3
    }
}
