//! Fractional ranks: strings that order list items, so a move is one write and concurrent moves never duplicate an item.
//!
//! A rank is a base-36 fraction `0.d1d2d3…` written as its digits (`0-9a-z`) with no trailing
//! `0`, so byte order equals numeric order. Between any two distinct ranks there is another.
//! Generated ranks get a short suffix derived from the item's id, so two replicas that
//! insert at the same place at the same time rarely produce equal ranks; equal ranks are
//! still ordered (by item id) and are re-spaced by the next edit that needs room between them.

const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
const BASE: u8 = 36;

/// A valid rank's digits, or `None` when the string is not a rank we could have generated.
fn digits(rank: &str) -> Option<Vec<u8>> {
    if rank.is_empty() || rank.len() > 256 || rank.ends_with('0') {
        return None;
    }
    rank.bytes()
        .map(|b| DIGITS.iter().position(|d| *d == b).map(|p| p as u8))
        .collect()
}

fn render(digits: &[u8]) -> String {
    digits
        .iter()
        .map(|d| char::from(DIGITS[usize::from(*d)]))
        .collect()
}

/// Digits strictly between `a` (None = 0) and `b` (None = 1); requires `a < b`.
fn midpoint(a: &[u8], b: Option<&[u8]>) -> Vec<u8> {
    let at = |s: &[u8], i: usize| s.get(i).copied().unwrap_or(0);
    if let Some(b) = b {
        // Skip the common prefix (missing digits of `a` count as 0).
        let mut n = 0;
        while n < b.len() && at(a, n) == b[n] {
            n += 1;
        }
        if n > 0 {
            let mut out = b[..n].to_vec();
            let rest_a = if a.len() > n { &a[n..] } else { &[][..] };
            out.extend(midpoint(rest_a, Some(&b[n..])));
            return out;
        }
    }
    let da = at(a, 0);
    let db = b.map_or(BASE, |b| b[0]);
    if db - da > 1 {
        return vec![(da + db) / 2];
    }
    // Adjacent first digits.
    match b {
        Some(b) if b.len() > 1 => vec![b[0]],
        _ => {
            let rest_a = if a.len() > 1 { &a[1..] } else { &[][..] };
            let mut out = vec![da];
            out.extend(midpoint(rest_a, None));
            out
        }
    }
}

/// A short step after `a` used for appends: the first two digits count up by one, so
/// hundreds of appends in a row keep ranks four characters long.
fn after(a: &[u8]) -> Vec<u8> {
    let d0 = a.first().copied().unwrap_or(0);
    let d1 = a.get(1).copied().unwrap_or(0);
    let value = u16::from(d0) * u16::from(BASE) + u16::from(d1);
    let max = u16::from(BASE) * u16::from(BASE) - 1;
    if a.is_empty() {
        return vec![BASE / 2];
    }
    if value < max {
        let next = value + 1;
        let mut out = vec![
            (next / u16::from(BASE)) as u8,
            (next % u16::from(BASE)) as u8,
        ];
        while out.last() == Some(&0) {
            out.pop();
        }
        return out;
    }
    let mut out = a[..2].to_vec();
    out.extend(after(&a[2..]));
    out
}

/// A short step before `b` used for prepends.
fn before(b: &[u8]) -> Vec<u8> {
    match b.first() {
        None => vec![BASE / 2],
        Some(&d) if d > 1 => vec![d - 1],
        Some(&d) => {
            let mut out = vec![0];
            let rest = if d == 1 { &[][..] } else { &b[1..] };
            if rest.is_empty() {
                out.extend(midpoint(&[], None));
            } else {
                out.extend(before(rest));
            }
            out
        }
    }
}

fn jitter(salt: &str) -> [u8; 2] {
    // FNV-1a over the salt: cheap, deterministic, well spread.
    let mut h: u32 = 0x811c_9dc5;
    for b in salt.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    let first = (h % u32::from(BASE)) as u8;
    let last = 1 + ((h / u32::from(BASE)) % u32::from(BASE - 1)) as u8;
    [first, last]
}

/// A rank strictly between `lo` and `hi` (either may be absent = list end), salted by `salt`.
///
/// Returns `None` when there is no room: the bounds are equal, out of order, or not ranks.
pub fn between(lo: Option<&str>, hi: Option<&str>, salt: &str) -> Option<String> {
    let a = match lo {
        Some(s) => Some(digits(s)?),
        None => None,
    };
    let b = match hi {
        Some(s) => Some(digits(s)?),
        None => None,
    };
    let mut out = match (&a, &b) {
        (Some(a), Some(b)) if a >= b => return None,
        (Some(a), Some(b)) => midpoint(a, Some(b)),
        (Some(a), None) => after(a),
        (None, Some(b)) => before(b),
        (None, None) => vec![BASE / 2],
    };
    let base = out.clone();
    out.extend(jitter(salt));
    if let Some(b) = &b {
        if out >= *b {
            out = base;
        }
    }
    Some(render(&out))
}

/// `n` evenly spaced ranks in increasing order, for re-spacing a whole list.
pub fn spread(n: usize) -> Vec<String> {
    let mut width = 1u32;
    while (BASE as u64).pow(width) <= (n as u64 + 1) * 4 {
        width += 1;
    }
    let space = (BASE as u64).pow(width);
    (0..n as u64)
        .map(|i| {
            let mut value = (i + 1) * space / (n as u64 + 1);
            let mut ds = vec![0u8; width as usize];
            for d in ds.iter_mut().rev() {
                *d = (value % BASE as u64) as u8;
                value /= BASE as u64;
            }
            while ds.last() == Some(&0) {
                ds.pop();
            }
            render(&ds)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn first_rank_is_the_middle() {
        assert_eq!(
            between(None, None, "x").map(|r| r[..1].to_owned()),
            Some("i".into())
        );
    }

    #[test]
    fn appends_stay_short() {
        let mut last = between(None, None, "0").expect("room");
        for i in 0..500 {
            let next = between(Some(&last), None, &i.to_string()).expect("room");
            assert!(next > last);
            last = next;
        }
        assert!(last.len() <= 24, "{last}");
    }

    #[test]
    fn no_room_between_equal_or_reversed_or_invalid_bounds() {
        assert_eq!(between(Some("k"), Some("k"), "s"), None);
        assert_eq!(between(Some("z"), Some("a"), "s"), None);
        assert_eq!(between(Some("A!"), None, "s"), None);
        assert_eq!(between(Some("a0"), None, "s"), None);
    }

    #[test]
    fn spread_is_increasing_and_valid() {
        for n in [0, 1, 2, 35, 36, 1000] {
            let ranks = spread(n);
            assert_eq!(ranks.len(), n);
            assert!(ranks.windows(2).all(|w| w[0] < w[1]));
            assert!(ranks.iter().all(|r| digits(r).is_some()));
        }
    }

    proptest! {
        #[test]
        fn between_is_strictly_between(a in "[0-9a-z]{0,6}[1-9a-z]", b in "[0-9a-z]{0,6}[1-9a-z]", salt in ".*") {
            let (lo, hi) = if a < b { (a, b) } else { (b, a) };
            if lo == hi {
                prop_assert_eq!(between(Some(&lo), Some(&hi), &salt), None);
            } else {
                let m = between(Some(&lo), Some(&hi), &salt).expect("room between distinct ranks");
                prop_assert!(lo < m && m < hi, "{} < {} < {}", lo, m, hi);
                prop_assert!(digits(&m).is_some());
            }
            let before = between(None, Some(&lo), &salt).expect("room before");
            prop_assert!(before < lo && digits(&before).is_some());
            let after = between(Some(&hi), None, &salt).expect("room after");
            prop_assert!(after > hi && digits(&after).is_some());
        }
    }
}
