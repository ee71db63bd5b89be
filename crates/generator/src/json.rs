//! Minimal, allocation-free JSON writing helpers for the hot path.

/// Appends the decimal digits of `v`.
#[inline]
pub(crate) fn push_u64(out: &mut String, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for &b in &buf[i..] {
        out.push(b as char);
    }
}

#[inline]
pub(crate) fn push_i64(out: &mut String, v: i64) {
    if v < 0 {
        out.push('-');
    }
    push_u64(out, v.unsigned_abs());
}

/// Appends `v` as lower-case hex, zero-padded to `width` digits.
pub(crate) fn push_hex(out: &mut String, v: u64, width: usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for i in (0..width).rev() {
        out.push(HEX[((v >> (i * 4)) & 0xf) as usize] as char);
    }
}

/// Appends an amount in minor units (cents) as a JSON value: a decimal string with
/// exactly two decimals (`"123.45"`), or, with `as_number`, the shortest exact JSON
/// number (`123.45`, `12.5`, `12`).
pub(crate) fn push_money(out: &mut String, cents: i64, as_number: bool) {
    let neg = cents < 0;
    let c = cents.unsigned_abs();
    let (units, frac) = (c / 100, (c % 100) as u32);
    if !as_number {
        out.push('"');
    }
    if neg {
        out.push('-');
    }
    push_u64(out, units);
    if as_number {
        if frac != 0 {
            out.push('.');
            out.push((b'0' + (frac / 10) as u8) as char);
            if frac % 10 != 0 {
                out.push((b'0' + (frac % 10) as u8) as char);
            }
        }
    } else {
        out.push('.');
        out.push((b'0' + (frac / 10) as u8) as char);
        out.push((b'0' + (frac % 10) as u8) as char);
        out.push('"');
    }
}

/// Appends `s` as the *contents* of a JSON string (no surrounding quotes), escaping
/// what JSON requires. Used once at construction for configuration-provided strings;
/// the hot path only writes strings known to be plain ASCII.
pub(crate) fn push_escaped(out: &mut String, s: &str) {
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                out.push_str("\\u00");
                push_hex(out, c as u64, 2);
            }
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn money(c: i64, n: bool) -> String {
        let mut s = String::new();
        push_money(&mut s, c, n);
        s
    }

    #[test]
    fn money_forms() {
        assert_eq!(money(12345, false), "\"123.45\"");
        assert_eq!(money(5, false), "\"0.05\"");
        assert_eq!(money(1250, true), "12.5");
        assert_eq!(money(1200, true), "12");
        assert_eq!(money(1205, true), "12.05");
        assert_eq!(money(-99, false), "\"-0.99\"");
    }

    #[test]
    fn ints_and_escapes() {
        let mut s = String::new();
        push_u64(&mut s, 0);
        s.push(' ');
        push_u64(&mut s, u64::MAX);
        s.push(' ');
        push_i64(&mut s, i64::MIN);
        assert_eq!(s, "0 18446744073709551615 -9223372036854775808");
        let mut e = String::new();
        push_escaped(&mut e, "a\"b\\c\n\u{1}é");
        assert_eq!(e, "a\\\"b\\\\c\\n\\u0001é");
    }
}
