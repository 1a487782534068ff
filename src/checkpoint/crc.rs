//! The "masked" CRC32C that LevelDB tables and tensor bundles store. Masking
//! keeps a CRC of data that itself contains CRCs from being degenerate.

const MASK_DELTA: u32 = 0xa282_ead8;

pub fn mask(crc: u32) -> u32 {
    crc.rotate_right(15).wrapping_add(MASK_DELTA)
}

pub fn unmask(masked: u32) -> u32 {
    masked.wrapping_sub(MASK_DELTA).rotate_left(15)
}

/// CRC32C of a large buffer on every core: chunk CRCs, then combined.
pub fn crc32c_parallel(data: &[u8]) -> u32 {
    use rayon::prelude::*;
    const CHUNK: usize = 4 << 20;
    if data.len() <= CHUNK {
        return crc32c::crc32c(data);
    }
    let parts: Vec<(u32, usize)> = data.par_chunks(CHUNK).map(|c| (crc32c::crc32c(c), c.len())).collect();
    parts.into_iter().fold(0, |acc, (crc, len)| crc32c::crc32c_combine(acc, crc, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_round_trips_and_differs() {
        for c in [0u32, 1, 0xdead_beef, u32::MAX] {
            assert_eq!(unmask(mask(c)), c);
            assert_ne!(mask(c), c);
        }
    }

    #[test]
    fn parallel_crc_matches() {
        let data: Vec<u8> = (0..(9 << 20) + 7).map(|i| (i * 31 % 251) as u8).collect();
        assert_eq!(crc32c_parallel(&data), crc32c::crc32c(&data));
    }

    #[test]
    fn known_crc32c() {
        // RFC 3720 test vector: 32 bytes of zeros.
        assert_eq!(crc32c::crc32c(&[0u8; 32]), 0x8a91_36aa);
    }
}
