//! k-anonymity at read time: how many verified members a hospital may be said to have. (What
//! a post's badge or a review's label shows is decided when the item is written:
//! `ward_command_api::labels`.)
//!
//! The number of verified members is published only as a **band** ([`Band`]): `[0, K)`, then
//! `[K, 2K)`, `[2K, 4K)`, `[4K, 8K)`, … doubling. An exact count would let a crawler read
//! before and after and learn the moment someone verified.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How many verified members a hospital has, as a band of counts.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct Band {
    /// The smallest count in the band.
    pub min: i64,
    /// The largest count in the band (inclusive).
    pub max: i64,
}

impl Band {
    /// The band of `count` verified members under `k`-anonymity: `[0, k)`, then bands that
    /// double, `[k, 2k)`, `[2k, 4k)`, …
    pub fn of(count: i64, k: u32) -> Self {
        let k = i64::from(k.max(1));
        if count < k {
            return Self { min: 0, max: k - 1 };
        }
        let mut min = k;
        while count / 2 >= min {
            min = min.saturating_mul(2);
        }
        Self {
            min,
            max: min.checked_mul(2).map_or(i64::MAX, |end| end - 1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn band(count: i64, k: u32) -> (i64, i64) {
        let band = Band::of(count, k);
        (band.min, band.max)
    }

    #[test]
    fn bands_start_below_k_and_double_from_k_on() {
        for (count, expected) in [
            (0, (0, 4)),
            (4, (0, 4)),
            (5, (5, 9)),
            (9, (5, 9)),
            (10, (10, 19)),
            (19, (10, 19)),
            (20, (20, 39)),
            (39, (20, 39)),
            (40, (40, 79)),
            (1_000, (640, 1_279)),
        ] {
            assert_eq!(band(count, 5), expected, "{count} members");
        }
        assert_eq!(band(i64::MAX, 5).1, i64::MAX, "no overflow at the top");
    }

    #[test]
    fn every_count_lies_in_its_band_and_neighbours_share_bands() {
        for k in [1, 2, 3, 5, 7] {
            for count in 0..200 {
                let b = Band::of(count, k);
                assert!(b.min <= count && count <= b.max, "k={k} {count} in {b:?}");
                assert_eq!(Band::of(b.min, k), b);
                assert_eq!(Band::of(b.max, k), b);
            }
        }
        assert_eq!(band(0, 0), (0, 0), "k = 0 behaves as k = 1");
    }
}
