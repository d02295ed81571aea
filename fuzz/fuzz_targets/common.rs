//! Shared by the targets: deterministic "arbitrary splits" of an input.

/// Splits `data` into chunks whose sizes come from a small PRNG seeded by
/// `seed`: seed 0 gives the whole input at once, odd seeds mostly tiny
/// chunks (down to one octet), even seeds a mix up to a few KiB. The same
/// input and seed always give the same chunks.
pub fn chunks(data: &[u8], seed: u8) -> Vec<&[u8]> {
    if seed == 0 || data.is_empty() {
        return vec![data];
    }
    let mut state = u32::from(seed).wrapping_mul(0x9E37_79B9) | 1;
    let max = if seed % 2 == 1 { 4 } else { 4096 };
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        // xorshift32
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let n = (state as usize % max) + 1;
        let (a, b) = rest.split_at(n.min(rest.len()));
        out.push(a);
        rest = b;
    }
    out
}
