//! The hasher of the grids that keep nesting and the web check near-linear.

/// A small multiplicative hasher for integer grid keys (SipHash is needlessly slow
/// here and the keys are not attacker-chosen in a way that matters: the work is
/// bounded by the budget anyway).
#[derive(Default, Clone, Copy)]
pub(super) struct FastHash;

#[derive(Default)]
pub(super) struct FastHasher(u64);

impl std::hash::BuildHasher for FastHash {
    type Hasher = FastHasher;
    fn build_hasher(&self) -> FastHasher {
        FastHasher(0)
    }
}

impl std::hash::Hasher for FastHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(*b as u64);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_i64(&mut self, v: i64) {
        self.write_u64(v as u64);
    }
}
