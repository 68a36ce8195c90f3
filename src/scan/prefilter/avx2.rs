//! The sampled scan with AVX2: 16 positions (32 input bytes) a step. For each position
//! the 3- and 4-byte grams are cut out by byte shuffles, folded and hashed in 32-bit
//! lanes; their common word is loaded from the bit set, and both bits tested with
//! variable shifts; one branch a step.
//!
//! The words are loaded either by the gather instruction or by eight scalar loads a
//! half, as `GATHER` says. Which is faster depends on the CPU: on the AMD EPYC (Zen 3,
//! Zen 4) benchmark machines the scalar loads made the whole engine 5-6% faster, on an
//! Intel Xeon (Emerald Rapids) the gather made it 1.2-1.6× faster. The prefilter times
//! both (and the AVX-512 loop, where the CPU has it) once per process and keeps the
//! fastest (`fastest_sampler`).

use std::arch::x86_64::{
    __m128i, __m256i, _mm256_and_si256, _mm256_castsi256_ps, _mm256_cmpgt_epi32, _mm256_i32gather_epi32,
    _mm256_loadu2_m128i, _mm256_movemask_ps, _mm256_mullo_epi32, _mm256_or_si256, _mm256_set1_epi32, _mm256_setr_epi8,
    _mm256_setr_epi32, _mm256_shuffle_epi8, _mm256_srli_epi32, _mm256_srlv_epi32, _mm256_storeu_si256,
};

use super::{MUL3, TABLE_BITS, WORD_BITS};

/// Input bytes a step covers (16 sampled positions).
const BLOCK: usize = 32;

/// Input bytes a step reads: the upper half of its second register is loaded from byte
/// 24 (16 bytes); its last 4-byte gram starts at byte 30.
const READ: usize = 40;

/// For each block `start..start + BLOCK` (starts 0, 32, 64, …) with a set gram bit,
/// calls `marked(start, lanes)`: bit `j` of `lanes` set means a gram at `start + 2j` has
/// its bit set. Returns where the blocks stopped (the caller scans the rest). `GATHER`
/// picks how table words are loaded (see the module's header); the result is the same.
///
/// # Safety
/// The CPU supports AVX2.
#[target_feature(enable = "avx2")]
pub unsafe fn marked_blocks<const GATHER: bool>(
    bits: &[u32; 1 << (TABLE_BITS - 5)],
    hay: &[u8],
    mut marked: impl FnMut(usize, u32),
) -> usize {
    // Each 128-bit half holds 16 input bytes and yields the grams at its offsets 0, 2, 4
    // and 6 as little-endian u32 lanes (index -1 writes a zero byte).
    let grams4 = _mm256_setr_epi8(
        0, 1, 2, 3, 2, 3, 4, 5, 4, 5, 6, 7, 6, 7, 8, 9, 0, 1, 2, 3, 2, 3, 4, 5, 4, 5, 6, 7, 6, 7, 8, 9,
    );
    let (fold, low3) = (_mm256_set1_epi32(0x2020_2020), _mm256_set1_epi32(0x00FF_FFFF));
    let mul3 = _mm256_set1_epi32(MUL3 as i32);
    let (low5, one, zero) = (_mm256_set1_epi32(31), _mm256_set1_epi32(1), _mm256_set1_epi32(0));
    let table = bits.as_ptr().cast::<i32>();
    // 16 input bytes in each half → a bit mask of the 8 positions whose grams are set
    // (the same words and bits as the portable `word_of`, `bit3` and `bit4`).
    let lanes = |bytes: __m256i| {
        let key4 = _mm256_or_si256(_mm256_shuffle_epi8(bytes, grams4), fold);
        let key3 = _mm256_and_si256(key4, low3);
        let hash3 = _mm256_mullo_epi32(key3, mul3);
        let word = _mm256_srli_epi32::<{ 32 - WORD_BITS as i32 }>(hash3);
        // SAFETY (both branches): a word index is a hash's top WORD_BITS bits, below
        // `bits.len()`, so every loaded word is inside `bits`.
        let words = if GATHER {
            unsafe { _mm256_i32gather_epi32::<4>(table, word) }
        } else {
            let mut index = [0u32; 8];
            // SAFETY: `index` has room for the 8 lanes; the store may be unaligned.
            unsafe { _mm256_storeu_si256(index.as_mut_ptr().cast(), word) };
            let load = |lane: usize| unsafe { *table.add(index[lane] as usize) };
            _mm256_setr_epi32(load(0), load(1), load(2), load(3), load(4), load(5), load(6), load(7))
        };
        let bit3 = _mm256_and_si256(_mm256_srli_epi32::<{ 32 - TABLE_BITS as i32 }>(hash3), low5);
        let bit4 = _mm256_and_si256(_mm256_srli_epi32::<24>(key4), low5);
        let set =
            _mm256_and_si256(_mm256_or_si256(_mm256_srlv_epi32(words, bit3), _mm256_srlv_epi32(words, bit4)), one);
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
