//! NumPy's legacy random generator, `numpy.random.RandomState`, as far as Keras's data set
//! loaders use it: seeding with an integer and `shuffle` of a 1-D array.
//!
//! Keras shuffles IMDB, Reuters, Boston Housing and California Housing with
//! `np.random.RandomState(seed).shuffle(np.arange(n))`. [`RandomState`] is the same Mersenne
//! Twister (MT19937, seeded like `init_genrand`) drawing the same bounded integers (a masked
//! rejection loop), so [`RandomState::permutation`] gives exactly NumPy's order for the same
//! seed, and the loaders return their samples in Keras's order.
//!
//! # Examples
//! ```
//! use kiln_datasets::random_state::RandomState;
//!
//! // `idx = np.arange(10); np.random.RandomState(113).shuffle(idx)` in NumPy 2.4:
//! let idx = RandomState::new(113).permutation(10);
//! assert_eq!(idx, [9, 3, 6, 1, 0, 7, 4, 8, 2, 5]);
//! ```

/// Number of 32-bit words in the Mersenne Twister state.
const N: usize = 624;
/// The twist's middle offset.
const M: usize = 397;

/// NumPy's `RandomState` (MT19937) for the calls Keras's loaders make.
#[derive(Clone)]
pub struct RandomState {
    key: [u32; N],
    pos: usize,
}

impl std::fmt::Debug for RandomState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RandomState")
            .field("pos", &self.pos)
            .finish_non_exhaustive()
    }
}

impl RandomState {
    /// `np.random.RandomState(seed)` for an integer seed (NumPy accepts `0..2**32`).
    pub fn new(seed: u32) -> Self {
        let mut key = [0u32; N];
        let mut s = seed;
        for (pos, k) in key.iter_mut().enumerate() {
            *k = s;
            // `pos + 1` is at most 624: the cast cannot truncate.
            s = 1_812_433_253u32
                .wrapping_mul(s ^ (s >> 30))
                .wrapping_add(pos as u32 + 1);
        }
        Self { key, pos: N }
    }

    fn twist(&mut self) {
        const UPPER: u32 = 0x8000_0000;
        const LOWER: u32 = 0x7fff_ffff;
        const MATRIX_A: u32 = 0x9908_b0df;
        for i in 0..N {
            let y = (self.key[i] & UPPER) | (self.key[(i + 1) % N] & LOWER);
            let mag = if y & 1 == 1 { MATRIX_A } else { 0 };
            self.key[i] = self.key[(i + M) % N] ^ (y >> 1) ^ mag;
        }
        self.pos = 0;
    }

    /// The next 32 random bits (`genrand_int32`).
    pub fn next_u32(&mut self) -> u32 {
        if self.pos >= N {
            self.twist();
        }
        let mut y = self.key[self.pos];
        self.pos += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// The next 64 random bits, as NumPy's legacy generator makes them (two 32-bit draws, the
    /// first in the high half).
    pub fn next_u64(&mut self) -> u64 {
        let high = u64::from(self.next_u32());
        (high << 32) | u64::from(self.next_u32())
    }

    /// A uniform integer in `0..=max`, drawn like NumPy's `random_interval`: random bits under
    /// the smallest all-ones mask covering `max`, redrawn until they are not above `max`.
    pub fn random_interval(&mut self, max: u64) -> u64 {
        if max == 0 {
            return 0;
        }
        let mut mask = max;
        for shift in [1, 2, 4, 8, 16, 32] {
            mask |= mask >> shift;
        }
        if max <= u64::from(u32::MAX) {
            loop {
                let value = u64::from(self.next_u32()) & mask;
                if value <= max {
                    return value;
                }
            }
        }
        loop {
            let value = self.next_u64() & mask;
            if value <= max {
                return value;
            }
        }
    }

    /// Shuffles `items` in place as `RandomState.shuffle` shuffles a 1-D array (Fisher-Yates
    /// from the end).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            // `j <= i < items.len()`: it fits a `usize`.
            let j = self.random_interval(i as u64) as usize;
            items.swap(i, j);
        }
    }

    /// `indices = np.arange(n); rng.shuffle(indices)`: the order Keras takes samples in.
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut indices: Vec<usize> = (0..n).collect();
        self.shuffle(&mut indices);
        indices
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Reference values from NumPy 2.4.6: `np.random.RandomState(seed).shuffle(np.arange(n))`.
    #[test]
    fn shuffles_like_numpy() {
        assert_eq!(RandomState::new(113).permutation(1), [0]);
        assert_eq!(RandomState::new(113).permutation(2), [0, 1]);
        assert_eq!(RandomState::new(113).permutation(5), [1, 0, 3, 2, 4]);
        assert_eq!(
            RandomState::new(113).permutation(13),
            [4, 3, 9, 8, 1, 0, 12, 7, 6, 11, 10, 2, 5]
        );
        let p = RandomState::new(5).permutation(100);
        assert_eq!(p[..10], [66, 32, 46, 28, 74, 23, 10, 20, 17, 35]);
        assert_eq!(p[90..], [80, 30, 27, 62, 8, 73, 16, 61, 78, 99]);
    }

    #[test]
    fn consecutive_shuffles_continue_the_stream() {
        // IMDB shuffles the training indices, then the test indices, with one generator.
        let mut rng = RandomState::new(113);
        assert_eq!(rng.permutation(7), [1, 3, 0, 6, 2, 4, 5]);
        assert_eq!(rng.permutation(4), [3, 0, 1, 2]);
    }

    #[test]
    fn mersenne_twister_reference_output() {
        // genrand_int32 after init_genrand(5489), the reference implementation's default seed.
        let mut rng = RandomState::new(5489);
        assert_eq!(rng.next_u32(), 3_499_211_612);
        assert_eq!(rng.next_u32(), 581_869_302);
    }
}
