//! k-anonymity at read time, in one place: what a badge or a review may say about its author,
//! and how many verified members a hospital may be said to have.
//!
//! - A hospital is **named** (on badges, and its reviews show their authors' labels) only
//!   while it has at least K verified members ([`named`]).
//! - Below K, a badge may fall back to the hospital's **region and kind**, but only if the
//!   hospitals of that region and kind that fall back too — those below K themselves — have K
//!   verified members together ([`place`]). Counting the named hospitals as well would let
//!   one large hospital hide a single member of a small one behind a crowd that never shows
//!   the region.
//! - The number of verified members is published only as a **band** ([`Band`]): `[0, K)`,
//!   then `[K, 2K)`, `[2K, 4K)`, `[4K, 8K)`, … doubling. An exact count would let a crawler
//!   read before and after and learn the moment someone verified; a band moves only when a
//!   hospital crosses a boundary that [`named`] already makes visible.

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

    /// Whether every count in the band names its hospital under `k`-anonymity.
    pub fn named(self, k: u32) -> bool {
        named(self.min, k)
    }
}

/// Whether a hospital with `verified` members may be named (and its reviews labelled).
pub fn named(verified: i64, k: u32) -> bool {
    verified >= i64::from(k)
}

/// What a badge may show of its author's workplace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// The hospital's name.
    Hospital,
    /// The hospital's region and kind.
    Region,
    /// Nothing: only the job category.
    Hidden,
}

/// Where a badge of a hospital with `verified` members points, given `fallback`: the
/// verified members of every hospital of its region and kind that is below K itself.
pub fn place(verified: i64, fallback: i64, k: u32) -> Place {
    if named(verified, k) {
        Place::Hospital
    } else if named(fallback, k) {
        Place::Region
    } else {
        Place::Hidden
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
                assert_eq!(b.named(k), named(count, k), "k={k} {count}");
            }
        }
        assert_eq!(band(0, 0), (0, 0), "k = 0 behaves as k = 1");
    }

    #[test]
    fn a_region_shows_only_when_the_hospitals_falling_back_to_it_reach_k() {
        assert_eq!(place(5, 0, 5), Place::Hospital);
        assert_eq!(place(1, 5, 5), Place::Region);
        assert_eq!(place(1, 1, 5), Place::Hidden);
        assert_eq!(place(0, 0, 5), Place::Hidden);
    }
}
