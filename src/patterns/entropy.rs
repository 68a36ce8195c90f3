//! Shannon entropy of a candidate secret, in bits per byte.

/// Shannon entropy of `bytes` in bits per byte (0.0 for empty input, at most 8.0).
///
/// Placeholders such as `xai-` followed by one repeated character or `your_key_here` score low; random tokens
/// over base62 score close to log2(62) ≈ 5.95 when long enough. Costs one pass.
pub fn shannon(bytes: &[u8]) -> f64 {
    if bytes.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in bytes {
        counts[b as usize] += 1;
    }
    let len = bytes.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / len;
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::shannon;

    #[test]
    fn repeated_characters_have_no_entropy() {
        assert_eq!(shannon(b"aaaaaaaaaaaaaaaa"), 0.0);
        assert_eq!(shannon(b""), 0.0);
    }

    #[test]
    fn distinct_bytes_have_log2_entropy() {
        assert!((shannon(b"abcd") - 2.0).abs() < 1e-9);
        let all: Vec<u8> = (0..=255).collect();
        assert!((shannon(&all) - 8.0).abs() < 1e-9);
    }
}
