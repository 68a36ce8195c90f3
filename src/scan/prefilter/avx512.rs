//! The sampled scan with AVX-512 (F, BW and VBMI): 32 positions (64 input bytes) a step,
//! the AVX2 loop's work on registers twice as wide. One byte permutation cuts the 4-byte
//! grams of 16 positions out of a 64-byte load; the grams are folded and hashed in
//! 32-bit lanes, their words fetched by one gather, and both bits tested into a mask.

use std::arch::x86_64::{
    __m512i, _mm512_and_si512, _mm512_i32gather_epi32, _mm512_loadu_si512, _mm512_mullo_epi32, _mm512_or_si512,
    _mm512_permutexvar_epi8, _mm512_set1_epi32, _mm512_srli_epi32, _mm512_srlv_epi32, _mm512_test_epi32_mask,
};

use super::{MUL3, TABLE_BITS, WORD_BITS};

/// Input bytes a step covers (32 sampled positions).
const BLOCK: usize = 64;

/// Input bytes a step reads: its second 64-byte load starts at byte 32.
const READ: usize = 96;

/// For each block `start..start + BLOCK` (starts 0, 64, 128, …) with a set gram bit,
/// calls `marked(start, lanes)`: bit `j` of `lanes` set means a gram at `start + 2j` has
/// its bit set. Returns where the blocks stopped (the caller scans the rest).
///
/// # Safety
/// The CPU supports AVX-512 F, BW and VBMI.
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
pub unsafe fn marked_blocks(
    bits: &[u32; 1 << (TABLE_BITS - 5)],
    hay: &[u8],
    mut marked: impl FnMut(usize, u32),
) -> usize {
    // Byte 4i + k of a permuted register is input byte 2i + k: lane i holds the 4-byte
    // gram at offset 2i, little-endian, like the portable loop's `u32::from_le_bytes`.
    let mut order = [0u8; 64];
    for (at, byte) in order.iter_mut().enumerate() {
        *byte = (2 * (at / 4) + at % 4) as u8;
    }
    // SAFETY: `order` is 64 bytes; the load may be unaligned.
    let grams4 = unsafe { _mm512_loadu_si512(order.as_ptr().cast()) };
    let (fold, low3) = (_mm512_set1_epi32(0x2020_2020), _mm512_set1_epi32(0x00FF_FFFF));
    let mul3 = _mm512_set1_epi32(MUL3 as i32);
    let (low5, one) = (_mm512_set1_epi32(31), _mm512_set1_epi32(1));
    let table = bits.as_ptr().cast::<i32>();
    // 64 input bytes → a bit mask of the 16 positions (offsets 0, 2, …, 30) whose grams
    // are set (the same words and bits as the portable `word_of`, `bit3` and `bit4`).
    let lanes = |bytes: __m512i| {
        let key4 = _mm512_or_si512(_mm512_permutexvar_epi8(grams4, bytes), fold);
        let key3 = _mm512_and_si512(key4, low3);
        let hash3 = _mm512_mullo_epi32(key3, mul3);
        let word = _mm512_srli_epi32::<{ 32 - WORD_BITS }>(hash3);
        // SAFETY: a word index is a hash's top WORD_BITS bits, below `bits.len()`, so
        // every gathered word is inside `bits`.
        let words = unsafe { _mm512_i32gather_epi32::<4>(word, table) };
        let bit3 = _mm512_and_si512(_mm512_srli_epi32::<{ 32 - TABLE_BITS }>(hash3), low5);
        let bit4 = _mm512_and_si512(_mm512_srli_epi32::<24>(key4), low5);
        _mm512_test_epi32_mask(_mm512_or_si512(_mm512_srlv_epi32(words, bit3), _mm512_srlv_epi32(words, bit4)), one)
    };
    let mut at = 0;
    while at + READ <= hay.len() {
        // SAFETY: `at + READ <= hay.len()`, so both 64-byte loads (from at and at + 32)
        // are inside `hay`; unaligned loads are allowed.
        let (low, high) = unsafe {
            let p = hay.as_ptr().add(at);
            (_mm512_loadu_si512(p.cast()), _mm512_loadu_si512(p.add(32).cast()))
        };
        let set = u32::from(lanes(low)) | u32::from(lanes(high)) << 16;
        if set != 0 {
            marked(at, set);
        }
        at += BLOCK;
    }
    at
}
