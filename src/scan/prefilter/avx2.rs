//! The sampled scan with AVX2: 16 positions (32 input bytes) a step. For each position
//! the 3- and 4-byte grams are cut out by byte shuffles, folded and hashed in 32-bit
//! lanes, and their bits fetched from the bit set with gathers; one branch a step.

use std::arch::x86_64::{
    __m128i, __m256i, _mm256_and_si256, _mm256_castsi256_ps, _mm256_cmpgt_epi32, _mm256_i32gather_epi32,
    _mm256_loadu2_m128i, _mm256_movemask_ps, _mm256_mullo_epi32, _mm256_or_si256, _mm256_set1_epi32, _mm256_setr_epi8,
    _mm256_shuffle_epi8, _mm256_srli_epi32, _mm256_srlv_epi32,
};

use super::{MUL3, MUL4, TABLE_BITS};

/// Input bytes a step covers (16 sampled positions).
const BLOCK: usize = 32;

/// Input bytes a step reads: the upper half of its second register is loaded from byte
/// 24 (16 bytes); its last 4-byte gram starts at byte 30.
const READ: usize = 40;

/// For each block `start..start + BLOCK` (starts 0, 32, 64, …) with a set gram bit,
/// calls `marked(start, lanes)`: bit `j` of `lanes` set means a gram at `start + 2j` has
/// its bit set. Returns where the blocks stopped (the caller scans the rest).
///
/// # Safety
/// The CPU supports AVX2.
#[target_feature(enable = "avx2")]
pub unsafe fn marked_blocks(
    bits: &[u32; 1 << (TABLE_BITS - 5)],
    hay: &[u8],
    mut marked: impl FnMut(usize, u32),
) -> usize {
    // Each 128-bit half holds 16 input bytes and yields the grams at its offsets 0, 2, 4
    // and 6 as little-endian u32 lanes (index -1 writes a zero byte).
    let grams3 = _mm256_setr_epi8(
        0, 1, 2, -1, 2, 3, 4, -1, 4, 5, 6, -1, 6, 7, 8, -1, 0, 1, 2, -1, 2, 3, 4, -1, 4, 5, 6, -1, 6, 7, 8, -1,
    );
    let grams4 = _mm256_setr_epi8(
        0, 1, 2, 3, 2, 3, 4, 5, 4, 5, 6, 7, 6, 7, 8, 9, 0, 1, 2, 3, 2, 3, 4, 5, 4, 5, 6, 7, 6, 7, 8, 9,
    );
    let (fold3, fold4) = (_mm256_set1_epi32(0x0020_2020), _mm256_set1_epi32(0x2020_2020));
    let (mul3, mul4) = (_mm256_set1_epi32(MUL3 as i32), _mm256_set1_epi32(MUL4 as i32));
    let (low5, one, zero) = (_mm256_set1_epi32(31), _mm256_set1_epi32(1), _mm256_set1_epi32(0));
    let table = bits.as_ptr().cast::<i32>();
    // Bit indexes → the bits (0 or 1 a lane).
    let fetch = |index: __m256i| {
        // SAFETY: an index is a hash's top TABLE_BITS bits, so `index >> 5` is below
        // `bits.len()`: every gathered word is inside `bits`.
        let words = unsafe { _mm256_i32gather_epi32::<4>(table, _mm256_srli_epi32::<5>(index)) };
        _mm256_and_si256(_mm256_srlv_epi32(words, _mm256_and_si256(index, low5)), one)
    };
    // 16 input bytes in each half → a bit mask of the 8 positions whose grams are set.
    let lanes = |bytes: __m256i| {
        let key3 = _mm256_or_si256(_mm256_shuffle_epi8(bytes, grams3), fold3);
        let key4 = _mm256_or_si256(_mm256_shuffle_epi8(bytes, grams4), fold4);
        let bit3 = _mm256_srli_epi32::<{ 32 - TABLE_BITS as i32 }>(_mm256_mullo_epi32(key3, mul3));
        let bit4 = _mm256_srli_epi32::<{ 32 - TABLE_BITS as i32 }>(_mm256_mullo_epi32(key4, mul4));
        let set = _mm256_or_si256(fetch(bit3), fetch(bit4));
        _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(set, zero))) as u32
    };
    let mut at = 0;
    while at + READ <= hay.len() {
        // SAFETY: `at + READ <= hay.len()`, so the four 16-byte loads (from at, at + 8,
        // at + 16 and at + 24) are inside `hay`; unaligned loads are allowed.
        let (first, second) = unsafe {
            let p = hay.as_ptr().add(at);
            (
                _mm256_loadu2_m128i(p.add(8).cast::<__m128i>(), p.cast::<__m128i>()),
                _mm256_loadu2_m128i(p.add(24).cast::<__m128i>(), p.add(16).cast::<__m128i>()),
            )
        };
        let set = lanes(first) | lanes(second) << 8;
        if set != 0 {
            marked(at, set);
        }
        at += BLOCK;
    }
    at
}
