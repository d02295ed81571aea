//! Modified UTF-7 for mailbox names (RFC 3501 §5.1.3, kept by RFC 9051
//! §5.1 for IMAP4rev1 clients).
//!
//! Printable US-ASCII other than `&` stands for itself, `&` is `&-`, and any
//! other run of characters is `&` + modified BASE64 (`,` for `/`, no `=`
//! padding) of its UTF-16BE form + `-`.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

fn b64_value(b: u8) -> Option<u32> {
    Some(match b {
        b'A'..=b'Z' => b - b'A',
        b'a'..=b'z' => b - b'a' + 26,
        b'0'..=b'9' => b - b'0' + 52,
        b'+' => 62,
        b',' => 63,
        _ => return None,
    } as u32)
}

/// Why a modified UTF-7 name could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Utf7Error {
    #[error("non-ASCII or control octet in modified UTF-7")]
    BadOctet,
    #[error("unterminated or empty &...- sequence")]
    Unterminated,
    #[error("invalid modified BASE64")]
    BadBase64,
    #[error("invalid UTF-16 in modified UTF-7")]
    BadUtf16,
    #[error("printable US-ASCII must not be BASE64-encoded")]
    NotMinimal,
}

/// Encode a (UTF-8) mailbox name to modified UTF-7.
pub fn encode_utf7(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();
    for ch in name.chars() {
        if (' '..='~').contains(&ch) {
            flush(&mut out, &mut pending);
            if ch == '&' {
                out.push_str("&-");
            } else {
                out.push(ch);
            }
        } else {
            let mut buf = [0u16; 2];
            pending.extend_from_slice(ch.encode_utf16(&mut buf));
        }
    }
    flush(&mut out, &mut pending);
    out
}

fn flush(out: &mut String, pending: &mut Vec<u16>) {
    if pending.is_empty() {
        return;
    }
    out.push('&');
    let mut bits: u32 = 0;
    let mut nbits = 0;
    for unit in pending.drain(..) {
        for byte in unit.to_be_bytes() {
            bits = (bits << 8) | u32::from(byte);
            nbits += 8;
            while nbits >= 6 {
                nbits -= 6;
                out.push(char::from(ALPHABET[((bits >> nbits) & 0x3f) as usize]));
            }
        }
    }
    if nbits > 0 {
        out.push(char::from(
            ALPHABET[((bits << (6 - nbits)) & 0x3f) as usize],
        ));
    }
    out.push('-');
}

/// Decode a modified UTF-7 mailbox name to UTF-8.
pub fn decode_utf7(input: &[u8]) -> Result<String, Utf7Error> {
    let mut out = String::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        let b = input[i];
        if !(0x20..=0x7e).contains(&b) {
            return Err(Utf7Error::BadOctet);
        }
        if b != b'&' {
            out.push(char::from(b));
            i += 1;
            continue;
        }
        let start = i + 1;
        let end = input[start..]
            .iter()
            .position(|&c| c == b'-')
            .map(|p| start + p)
            .ok_or(Utf7Error::Unterminated)?;
        if end == start {
            out.push('&');
        } else {
            decode_run(&input[start..end], &mut out)?;
        }
        i = end + 1;
    }
    Ok(out)
}

fn decode_run(run: &[u8], out: &mut String) -> Result<(), Utf7Error> {
    let mut units = Vec::with_capacity(run.len() * 6 / 16);
    let mut bits: u32 = 0;
    let mut nbits = 0;
    let mut bytes = Vec::with_capacity(2);
    for &c in run {
        let v = b64_value(c).ok_or(Utf7Error::BadBase64)?;
        bits = (bits << 6) | v;
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            bytes.push(((bits >> nbits) & 0xff) as u8);
            if bytes.len() == 2 {
                units.push(u16::from_be_bytes([bytes[0], bytes[1]]));
                bytes.clear();
            }
        }
    }
    // Leftover must be fewer than 6 zero bits and no half UTF-16 unit.
    if nbits >= 6 || bits & ((1 << nbits) - 1) != 0 || !bytes.is_empty() {
        return Err(Utf7Error::BadBase64);
    }
    for ch in char::decode_utf16(units) {
        let ch = ch.map_err(|_| Utf7Error::BadUtf16)?;
        if (' '..='~').contains(&ch) {
            return Err(Utf7Error::NotMinimal);
        }
        out.push(ch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3501_example() {
        let s = "~peter/mail/\u{53f0}\u{5317}/\u{65e5}\u{672c}\u{8a9e}";
        assert_eq!(encode_utf7(s), "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
        assert_eq!(decode_utf7(b"~peter/mail/&U,BTFw-/&ZeVnLIqe-").unwrap(), s);
    }

    #[test]
    fn ampersand_and_symbols() {
        assert_eq!(encode_utf7("a&b"), "a&-b");
        assert_eq!(decode_utf7(b"&Jjo-!").unwrap(), "\u{263a}!");
        assert_eq!(encode_utf7("\u{263a}!"), "&Jjo-!");
        assert_eq!(decode_utf7(b"&-&-").unwrap(), "&&");
    }

    #[test]
    fn rejects_bad_forms() {
        assert_eq!(decode_utf7(b"&Jjo"), Err(Utf7Error::Unterminated));
        assert_eq!(decode_utf7(b"&AGE-"), Err(Utf7Error::NotMinimal));
        assert_eq!(decode_utf7(b"&Jj-"), Err(Utf7Error::BadBase64));
        assert_eq!(decode_utf7(b"&2D0-"), Err(Utf7Error::BadUtf16));
        assert_eq!(decode_utf7("é".as_bytes()), Err(Utf7Error::BadOctet));
        assert_eq!(decode_utf7(b"&J/o-"), Err(Utf7Error::BadBase64));
    }

    #[test]
    fn astral_plane() {
        let s = "mail \u{1f600}";
        let e = encode_utf7(s);
        assert_eq!(decode_utf7(e.as_bytes()).unwrap(), s);
    }
}
