//! Content-Transfer-Encoding decoding for IMAP `BINARY[section]` and
//! `BINARY.SIZE[section]` (RFC 3516, RFC 2045 §6).
//!
//! Decoding is lenient the way RFC 2045 asks: base64 ignores characters
//! outside its alphabet and stops at padding (§6.8); quoted-printable drops
//! trailing whitespace, joins soft line breaks, and keeps a malformed `=`
//! as is (§6.7). Only an encoding this crate does not know is an error
//! (the server then answers `NO [UNKNOWN-CTE]`).

/// An unknown Content-Transfer-Encoding (RFC 3516 `UNKNOWN-CTE`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown content-transfer-encoding {0:?}")]
pub struct UnknownEncoding(pub String);

/// Where decoded octets go: a buffer, or a counter (BINARY.SIZE).
trait Sink {
    fn put(&mut self, b: u8);
    fn put_all(&mut self, b: &[u8]);
}

impl Sink for Vec<u8> {
    fn put(&mut self, b: u8) {
        self.push(b);
    }
    fn put_all(&mut self, b: &[u8]) {
        self.extend_from_slice(b);
    }
}

struct Count(u64);

impl Sink for Count {
    fn put(&mut self, _: u8) {
        self.0 += 1;
    }
    fn put_all(&mut self, b: &[u8]) {
        self.0 += b.len() as u64;
    }
}

/// The transfer encodings this crate decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cte {
    Identity,
    Base64,
    QuotedPrintable,
}

fn cte(encoding: Option<&str>) -> Result<Cte, UnknownEncoding> {
    let Some(e) = encoding else {
        return Ok(Cte::Identity);
    };
    let e = e.trim();
    if ["7bit", "8bit", "binary", ""]
        .iter()
        .any(|k| e.eq_ignore_ascii_case(k))
    {
        Ok(Cte::Identity)
    } else if e.eq_ignore_ascii_case("base64") {
        Ok(Cte::Base64)
    } else if e.eq_ignore_ascii_case("quoted-printable") {
        Ok(Cte::QuotedPrintable)
    } else {
        Err(UnknownEncoding(e.to_owned()))
    }
}

fn decode_into(c: Cte, bytes: &[u8], out: &mut impl Sink) {
    match c {
        Cte::Identity => out.put_all(bytes),
        Cte::Base64 => base64(bytes, out),
        Cte::QuotedPrintable => quoted_printable(bytes, out),
    }
}

/// Decodes a part body (`bytes`, exactly the part's body range) given its
/// Content-Transfer-Encoding (`None`: absent, i.e. 7bit). Never panics.
pub fn decode_part(encoding: Option<&str>, bytes: &[u8]) -> Result<Vec<u8>, UnknownEncoding> {
    let c = cte(encoding)?;
    let mut out = Vec::with_capacity(match c {
        Cte::Base64 => bytes.len() / 4 * 3 + 3,
        _ => bytes.len(),
    });
    decode_into(c, bytes, &mut out);
    Ok(out)
}

/// `BINARY.SIZE`: the length [`decode_part`] would return, without
/// allocating it.
pub fn binary_size(encoding: Option<&str>, bytes: &[u8]) -> Result<u64, UnknownEncoding> {
    let c = cte(encoding)?;
    let mut n = Count(0);
    decode_into(c, bytes, &mut n);
    Ok(n.0)
}

fn b64_value(b: u8) -> Option<u32> {
    Some(match b {
        b'A'..=b'Z' => b - b'A',
        b'a'..=b'z' => b - b'a' + 26,
        b'0'..=b'9' => b - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    } as u32)
}

/// RFC 2045 §6.8.
fn base64(bytes: &[u8], out: &mut impl Sink) {
    let mut acc = 0u32;
    let mut n = 0;
    for &b in bytes {
        if b == b'=' {
            break;
        }
        let Some(v) = b64_value(b) else { continue };
        acc = acc << 6 | v;
        n += 1;
        if n == 4 {
            out.put_all(&[(acc >> 16) as u8, (acc >> 8) as u8, acc as u8]);
            acc = 0;
            n = 0;
        }
    }
    match n {
        2 => out.put((acc >> 4) as u8),
        3 => out.put_all(&[(acc >> 10) as u8, (acc >> 2) as u8]),
        _ => {}
    }
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// RFC 2045 §6.7.
fn quoted_printable(bytes: &[u8], out: &mut impl Sink) {
    let mut pos = 0;
    while pos < bytes.len() {
        let end = crate::header::line_end(bytes, pos);
        let line = &bytes[pos..end];
        let (content, eol) = match line.strip_suffix(b"\r\n") {
            Some(c) => (c, &b"\r\n"[..]),
            None => match line.strip_suffix(b"\n") {
                Some(c) => (c, &b"\n"[..]),
                None => (line, &b""[..]),
            },
        };
        // Rule 3: trailing whitespace was added in transport.
        let trimmed = content
            .iter()
            .rposition(|&b| b != b' ' && b != b'\t')
            .map_or(&content[..0], |i| &content[..=i]);
        let (content, soft) = match trimmed.strip_suffix(b"=") {
            Some(c) => (c, true),
            None => (trimmed, false),
        };
        let mut i = 0;
        while i < content.len() {
            if content[i] == b'='
                && let (Some(h), Some(l)) = (
                    content.get(i + 1).copied().and_then(hex),
                    content.get(i + 2).copied().and_then(hex),
                )
            {
                out.put(h << 4 | l);
                i += 3;
                continue;
            }
            out.put(content[i]);
            i += 1;
        }
        if !soft {
            out.put_all(eol);
        }
        pos = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(e: &str, b: &[u8]) -> Vec<u8> {
        decode_part(Some(e), b).expect("known")
    }

    #[test]
    fn base64_lenient() {
        assert_eq!(dec("BASE64", b"aGVs\r\nbG8=\r\n"), b"hello");
        assert_eq!(dec("base64", b"aGVsbG8"), b"hello");
        assert_eq!(dec("base64", b"a*G!V s bG8h"), b"hello!");
        assert_eq!(dec("base64", b"=aGVsbG8"), b"");
        assert_eq!(dec("base64", b"a"), b"");
        assert_eq!(binary_size(Some("base64"), b"aGVs\r\nbG8=\r\n"), Ok(5));
    }

    #[test]
    fn quoted_printable_rules() {
        assert_eq!(
            dec("quoted-printable", b"caf=C3=A9 =\r\nau lait  \r\nx=3d=\r\n"),
            "café au lait\r\nx=".as_bytes()
        );
        assert_eq!(dec("Quoted-Printable", b"a=zz=4\n=  \nb"), b"a=zz=4\nb");
        assert_eq!(binary_size(Some("quoted-printable"), b"=41=42\r\n"), Ok(4));
    }

    #[test]
    fn identity_and_unknown() {
        assert_eq!(decode_part(None, b"\0x\r\n"), Ok(b"\0x\r\n".to_vec()));
        assert_eq!(dec("8Bit", b"\xff"), b"\xff");
        assert_eq!(
            decode_part(Some("x-uuencode"), b""),
            Err(UnknownEncoding("x-uuencode".into()))
        );
        assert!(binary_size(Some("gzip"), b"").is_err());
    }
}
