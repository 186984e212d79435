//! Just enough DER (X.690) to read CSRs and certificate extensions and to write leaf
//! certificates. The openssl crate's X.509 types decode and encode public keys through OpenSSL
//! 3's provider machinery on every parse and build (about a millisecond of CPU per finalize on
//! the benchmark machine), so the hot issuance path handles the bytes itself and keeps OpenSSL
//! for the arithmetic (signatures, curve points).

/// DER tags used here.
pub mod tag {
    pub const BOOLEAN: u8 = 0x01;
    pub const INTEGER: u8 = 0x02;
    pub const BIT_STRING: u8 = 0x03;
    pub const OCTET_STRING: u8 = 0x04;
    pub const NULL: u8 = 0x05;
    pub const OID: u8 = 0x06;
    pub const UTF8_STRING: u8 = 0x0c;
    pub const PRINTABLE_STRING: u8 = 0x13;
    pub const T61_STRING: u8 = 0x14;
    pub const IA5_STRING: u8 = 0x16;
    pub const UTC_TIME: u8 = 0x17;
    pub const GENERALIZED_TIME: u8 = 0x18;
    pub const VISIBLE_STRING: u8 = 0x1a;
    pub const BMP_STRING: u8 = 0x1e;
    pub const SEQUENCE: u8 = 0x30;
    pub const SET: u8 = 0x31;
}

/// One TLV: tag, contents, and the rest of the input. Definite lengths only (DER).
pub fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// A TLV of the expected tag: its contents, its whole encoding, and the rest of the input.
pub fn expect(input: &[u8], want: u8) -> Option<(&[u8], &[u8], &[u8])> {
    let (tag, contents, rest) = tlv(input)?;
    (tag == want).then(|| (contents, &input[..input.len() - rest.len()], rest))
}

/// The elements of a SEQUENCE's or SET's contents, as (tag, contents).
pub fn items(mut contents: &[u8]) -> impl Iterator<Item = Option<(u8, &[u8])>> {
    std::iter::from_fn(move || {
        if contents.is_empty() {
            return None;
        }
        Some(tlv(contents).map(|(tag, value, rest)| {
            contents = rest;
            (tag, value)
        }))
    })
}

/// Appends one TLV whose contents are the concatenation of `parts`.
pub fn put(out: &mut Vec<u8>, tag: u8, parts: &[&[u8]]) {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    out.push(tag);
    match len {
        0..=0x7f => out.push(len as u8),
        0x80..=0xff => out.extend_from_slice(&[0x81, len as u8]),
        0x100..=0xffff => out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]),
        _ => out.extend_from_slice(&[0x83, (len >> 16) as u8, (len >> 8) as u8, len as u8]),
    }
    for p in parts {
        out.extend_from_slice(p);
    }
}

/// One TLV as a new vector.
pub fn wrap(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.len()).sum::<usize>() + 4);
    put(&mut out, tag, parts);
    out
}

/// A non-negative INTEGER from big-endian magnitude bytes.
pub fn unsigned(magnitude: &[u8]) -> Vec<u8> {
    let start = magnitude
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(magnitude.len().saturating_sub(1));
    let trimmed = &magnitude[start..];
    match trimmed.first() {
        Some(b) if *b >= 0x80 => wrap(tag::INTEGER, &[&[0], trimmed]),
        Some(_) => wrap(tag::INTEGER, &[trimmed]),
        None => wrap(tag::INTEGER, &[&[0]]),
    }
}

/// A BIT STRING with no unused bits.
pub fn bits(bytes: &[u8]) -> Vec<u8> {
    wrap(tag::BIT_STRING, &[&[0], bytes])
}

/// RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050.
pub fn time(unix: i64) -> Vec<u8> {
    let t =
        time::OffsetDateTime::from_unix_timestamp(unix).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let rest = format!(
        "{:02}{:02}{:02}{:02}{:02}Z",
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    if (1950..2050).contains(&t.year()) {
        let text = format!("{:02}{rest}", t.year() % 100);
        wrap(tag::UTC_TIME, &[text.as_bytes()])
    } else {
        let text = format!("{:04}{rest}", t.year());
        wrap(tag::GENERALIZED_TIME, &[text.as_bytes()])
    }
}

/// A directory string's text (what OpenSSL's `ASN1_STRING_to_UTF8` gives for the common types).
pub fn text(tag: u8, contents: &[u8]) -> Option<String> {
    match tag {
        tag::UTF8_STRING | tag::PRINTABLE_STRING | tag::IA5_STRING | tag::VISIBLE_STRING => {
            String::from_utf8(contents.to_vec()).ok()
        }
        tag::T61_STRING => Some(contents.iter().map(|b| char::from(*b)).collect()),
        tag::BMP_STRING if contents.len() % 2 == 0 => {
            let units: Vec<u16> = contents
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).ok()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_encodings() {
        let long = wrap(tag::OCTET_STRING, &[&[7u8; 300]]);
        let seq = wrap(tag::SEQUENCE, &[&unsigned(&[0, 0, 0x80]), &long]);
        let (contents, whole, rest) = expect(&seq, tag::SEQUENCE).unwrap();
        assert_eq!((whole.len(), rest.len()), (seq.len(), 0));
        let parts: Vec<_> = items(contents).map(Option::unwrap).collect();
        assert_eq!(parts[0], (tag::INTEGER, &[0u8, 0x80][..]));
        assert_eq!(unsigned(&[0, 0]), vec![2, 1, 0]);
        assert_eq!(time(0), b"\x17\x0d700101000000Z".to_vec());
        assert_eq!(time(2_556_057_600)[0], tag::GENERALIZED_TIME);
        assert_eq!(text(tag::BMP_STRING, &[0, b'a']).as_deref(), Some("a"));
    }
}
