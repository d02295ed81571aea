//! Structured MIME header values: `Content-Type` (RFC 2045 §5.1),
//! `Content-Disposition` (RFC 2183), `Content-Transfer-Encoding`
//! (RFC 2045 §6.1), `Content-Language` (RFC 3282), with parameter values
//! decoded per RFC 2231 (continuations `name*0`, `name*1`, ..., and
//! charset/language-tagged `name*=charset'lang'%XX` values converted to
//! UTF-8).
//!
//! Parsing is lenient (comments anywhere, unquoted values containing
//! spaces, junk between parameters is skipped) and bounded: at most
//! [`MAX_PARAMS`] parameters are kept per field.

use mail_parser::decoders::charsets::map::charset_decoder;

/// Parameters kept per field; more are ignored (keeps RFC 2231 assembly
/// cheap on hostile input).
pub const MAX_PARAMS: usize = 64;

/// RFC 2045 `tspecials`.
fn is_tspecial(b: u8) -> bool {
    matches!(
        b,
        b'(' | b')'
            | b'<'
            | b'>'
            | b'@'
            | b','
            | b';'
            | b':'
            | b'\\'
            | b'"'
            | b'/'
            | b'['
            | b']'
            | b'?'
            | b'='
    )
}

/// RFC 2045 `token` octet (8-bit octets accepted, leniently).
fn is_token(b: u8) -> bool {
    b > b' ' && b != 0x7f && !is_tspecial(b)
}

/// A cursor over an unfolded structured field value.
struct Lexer<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    /// Skips whitespace and (nested) RFC 5322 comments.
    fn skip_cfws(&mut self) {
        while let Some(b) = self.peek() {
            match b {
                b' ' | b'\t' | b'\r' | b'\n' => self.pos += 1,
                b'(' => {
                    let mut depth = 0usize;
                    while let Some(c) = self.peek() {
                        self.pos += 1;
                        match c {
                            b'\\' => self.pos += 1,
                            b'(' => depth += 1,
                            b')' => {
                                depth -= 1;
                                if depth == 0 {
                                    break;
                                }
                            }
                            _ => {}
                        }
                    }
                    self.pos = self.pos.min(self.s.len());
                }
                _ => break,
            }
        }
    }

    fn token(&mut self) -> &'a [u8] {
        let start = self.pos;
        while self.peek().is_some_and(is_token) {
            self.pos += 1;
        }
        &self.s[start..self.pos]
    }

    /// A quoted string (the cursor is on the opening quote), unescaped.
    /// An unterminated string runs to the end.
    fn quoted(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        self.pos += 1;
        while let Some(b) = self.peek() {
            self.pos += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    if let Some(c) = self.peek() {
                        out.push(c);
                        self.pos += 1;
                    }
                }
                b'\r' | b'\n' => {}
                _ => out.push(b),
            }
        }
        out
    }

    fn skip_past(&mut self, stop: u8) {
        while let Some(b) = self.peek() {
            self.pos += 1;
            if b == stop {
                break;
            }
        }
    }
}

/// A parameter as written, before RFC 2231 assembly.
struct RawParam {
    name: String,
    value: Vec<u8>,
}

/// `*(";" parameter)`, leniently.
fn raw_params(lx: &mut Lexer<'_>) -> Vec<RawParam> {
    let mut out: Vec<RawParam> = Vec::new();
    loop {
        lx.skip_cfws();
        match lx.peek() {
            None => break,
            Some(b';') => lx.pos += 1,
            Some(_) => {
                // Junk where a ";" belongs: skip to the next one.
                while lx.peek().is_some_and(|b| b != b';') {
                    lx.pos += 1;
                }
                continue;
            }
        }
        lx.skip_cfws();
        let name = lx.token();
        if name.is_empty() {
            continue;
        }
        lx.skip_cfws();
        if lx.peek() != Some(b'=') {
            continue;
        }
        lx.pos += 1;
        lx.skip_cfws();
        let value = if lx.peek() == Some(b'"') {
            lx.quoted()
        } else {
            let start = lx.pos;
            let mut v = lx.token().to_vec();
            let token_end = lx.pos;
            lx.skip_cfws();
            if !matches!(lx.peek(), None | Some(b';')) {
                // Unquoted value with spaces or tspecials (`name=a b.pdf`):
                // take everything up to the next ";".
                lx.pos = token_end;
                lx.skip_past(b';');
                let end = if lx.s.get(lx.pos - 1) == Some(&b';') {
                    lx.pos - 1
                } else {
                    lx.pos
                };
                v = crate::header::trim(&lx.s[start..end]).to_vec();
                lx.pos = end;
            }
            v
        };
        if out.len() < MAX_PARAMS {
            out.push(RawParam {
                name: String::from_utf8_lossy(name).to_ascii_lowercase(),
                value,
            });
        }
    }
    out
}

/// Converts `bytes` in `charset` to UTF-8 (lossily; unknown charsets are
/// read as UTF-8).
pub(crate) fn to_utf8(charset: &[u8], bytes: &[u8]) -> String {
    let cs = charset.to_ascii_lowercase();
    if matches!(
        cs.as_slice(),
        b"" | b"utf-8" | b"utf8" | b"us-ascii" | b"ascii"
    ) {
        return String::from_utf8_lossy(bytes).into_owned();
    }
    match charset_decoder(charset) {
        Some(decode) => decode(bytes),
        None => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// RFC 2231 §4 `%XX` decoding (a `%` not followed by two hex digits is
/// kept as is).
fn percent_decode(b: &[u8], out: &mut Vec<u8>) {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (
                b.get(i + 1).copied().and_then(hex),
                b.get(i + 2).copied().and_then(hex),
            )
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
}

/// Splits `charset'language'rest` (RFC 2231 §4); `None` when the two
/// quotes are missing.
fn split_charset(v: &[u8]) -> Option<(&[u8], &[u8])> {
    let q1 = v.iter().position(|&b| b == b'\'')?;
    let q2 = v[q1 + 1..].iter().position(|&b| b == b'\'')? + q1 + 1;
    Some((&v[..q1], &v[q2 + 1..]))
}

#[derive(Default)]
struct Assembly {
    name: String,
    plain: Option<Vec<u8>>,
    extended: Option<Vec<u8>>,
    /// (section number, percent-encoded?, value)
    sections: Vec<(u32, bool, Vec<u8>)>,
}

/// RFC 2231 assembly of raw parameters into `(name, UTF-8 value)` pairs,
/// in order of first appearance. `name*` wins over continuations, which
/// win over a plain `name`.
fn assemble(raw: Vec<RawParam>) -> Vec<(String, String)> {
    let mut list: Vec<Assembly> = Vec::new();
    for p in raw {
        let (base, section, ext) = match p.name.split_once('*') {
            None => (p.name.as_str(), None, false),
            Some((base, "")) => (base, None, true),
            Some((base, rest)) => {
                let (num, ext) = match rest.strip_suffix('*') {
                    Some(n) => (n, true),
                    None => (rest, false),
                };
                match num.parse::<u32>() {
                    Ok(n) if num.len() <= 4 && num.bytes().all(|b| b.is_ascii_digit()) => {
                        (base, Some(n), ext)
                    }
                    _ => (p.name.as_str(), None, false),
                }
            }
        };
        let idx = match list.iter().position(|a| a.name == base) {
            Some(i) => i,
            None => {
                list.push(Assembly {
                    name: base.to_owned(),
                    ..Assembly::default()
                });
                list.len() - 1
            }
        };
        let a = &mut list[idx];
        match (section, ext) {
            (Some(n), ext) => a.sections.push((n, ext, p.value)),
            (None, true) => {
                a.extended.get_or_insert(p.value);
            }
            (None, false) => {
                a.plain.get_or_insert(p.value);
            }
        }
    }
    list.into_iter()
        .filter_map(|mut a| {
            let value = if let Some(v) = a.extended {
                match split_charset(&v) {
                    Some((charset, rest)) => {
                        let mut bytes = Vec::new();
                        percent_decode(rest, &mut bytes);
                        to_utf8(charset, &bytes)
                    }
                    None => String::from_utf8_lossy(&v).into_owned(),
                }
            } else if !a.sections.is_empty() {
                a.sections.sort_by_key(|s| s.0);
                a.sections.dedup_by_key(|s| s.0);
                let mut charset: &[u8] = b"";
                let mut bytes = Vec::new();
                for (i, (n, ext, v)) in a.sections.iter().enumerate() {
                    let mut v = v.as_slice();
                    if i == 0
                        && *n == 0
                        && *ext
                        && let Some((cs, rest)) = split_charset(v)
                    {
                        charset = cs;
                        v = rest;
                    }
                    if *ext {
                        percent_decode(v, &mut bytes);
                    } else {
                        bytes.extend_from_slice(v);
                    }
                }
                to_utf8(charset, &bytes)
            } else {
                String::from_utf8_lossy(a.plain.as_deref()?).into_owned()
            };
            Some((a.name, value))
        })
        .collect()
}

/// A parsed `Content-Type`: lowercase type and subtype, decoded params.
pub(crate) type ContentType = (String, String, Vec<(String, String)>);

/// Parses a `Content-Type` value; `None` if the `type "/" subtype` part is
/// invalid (RFC 2045 §5.2 then says: treat as the default type).
pub(crate) fn content_type(value: &[u8]) -> Option<ContentType> {
    let mut lx = Lexer { s: value, pos: 0 };
    lx.skip_cfws();
    let ty = lx.token();
    lx.skip_cfws();
    if ty.is_empty() || lx.peek() != Some(b'/') {
        return None;
    }
    lx.pos += 1;
    lx.skip_cfws();
    let sub = lx.token();
    if sub.is_empty() {
        return None;
    }
    let ty = String::from_utf8_lossy(ty).to_ascii_lowercase();
    let sub = String::from_utf8_lossy(sub).to_ascii_lowercase();
    Some((ty, sub, assemble(raw_params(&mut lx))))
}

/// Parses a `Content-Disposition` value (RFC 2183): lowercase type and
/// decoded params; `None` if there is no type.
pub(crate) fn disposition(value: &[u8]) -> Option<(String, Vec<(String, String)>)> {
    let mut lx = Lexer { s: value, pos: 0 };
    lx.skip_cfws();
    let ty = lx.token();
    if ty.is_empty() {
        return None;
    }
    let ty = String::from_utf8_lossy(ty).to_ascii_lowercase();
    Some((ty, assemble(raw_params(&mut lx))))
}

/// A single lowercase token with comments removed
/// (`Content-Transfer-Encoding`); `None` if empty.
pub(crate) fn single_token(value: &[u8]) -> Option<String> {
    let mut lx = Lexer { s: value, pos: 0 };
    lx.skip_cfws();
    let t = lx.token();
    (!t.is_empty()).then(|| String::from_utf8_lossy(t).to_ascii_lowercase())
}

/// `Content-Language` (RFC 3282): comma-separated tags, comments removed.
pub(crate) fn language_list(value: &[u8]) -> Vec<String> {
    let mut lx = Lexer { s: value, pos: 0 };
    let mut out = Vec::new();
    loop {
        lx.skip_cfws();
        match lx.peek() {
            None => break,
            Some(b',') => lx.pos += 1,
            Some(_) => {
                let start = lx.pos;
                while lx
                    .peek()
                    .is_some_and(|b| !matches!(b, b',' | b'(' | b' ' | b'\t' | b'\r' | b'\n'))
                {
                    lx.pos += 1;
                }
                if out.len() < MAX_PARAMS {
                    out.push(String::from_utf8_lossy(&lx.s[start..lx.pos]).into_owned());
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn content_type_basic_and_comments() {
        let (t, s, ps) = content_type(b"Text/Plain; charset=us-ascii (Plain text)").expect("valid");
        assert_eq!((t.as_str(), s.as_str()), ("text", "plain"));
        assert_eq!(ps, p(&[("charset", "us-ascii")]));
        let (_, _, ps) =
            content_type(b"multipart/mixed; boundary=\"a b\\\"c\" ; x = y").expect("valid");
        assert_eq!(ps, p(&[("boundary", "a b\"c"), ("x", "y")]));
        assert!(content_type(b"text").is_none());
        assert!(content_type(b"/plain").is_none());
        assert!(content_type(b"").is_none());
    }

    #[test]
    fn lenient_unquoted_values_and_junk() {
        let (_, _, ps) =
            content_type(b"application/pdf; name=my file.pdf; junk ; =x; size=3").expect("ok");
        assert_eq!(ps, p(&[("name", "my file.pdf"), ("size", "3")]));
    }

    #[test]
    fn rfc2231_examples() {
        // RFC 2231 §3, §4, §4.1 examples.
        let (_, _, ps) = content_type(
            b"message/external-body; access-type=URL;\r\n URL*0=\"ftp://\";\r\n URL*1=\"cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar\"",
        )
        .expect("ok");
        assert_eq!(
            ps,
            p(&[
                ("access-type", "URL"),
                (
                    "url",
                    "ftp://cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar"
                )
            ])
        );
        let (_, _, ps) = content_type(
            b"application/x-stuff; title*=us-ascii'en-us'This%20is%20%2A%2A%2Afun%2A%2A%2A",
        )
        .expect("ok");
        assert_eq!(ps, p(&[("title", "This is ***fun***")]));
        let (_, _, ps) = content_type(
            b"application/x-stuff; title*0*=us-ascii'en'This%20is%20even%20more%20;\
              title*1*=%2A%2A%2Afun%2A%2A%2A%20; title*2=\"isn't it!\"",
        )
        .expect("ok");
        assert_eq!(ps, p(&[("title", "This is even more ***fun*** isn't it!")]));
    }

    #[test]
    fn rfc2231_charsets_and_precedence() {
        let (_, ps) =
            disposition(b"attachment; filename=\"fallback.txt\"; filename*=iso-8859-1''caf%E9.txt")
                .expect("ok");
        assert_eq!(ps, p(&[("filename", "café.txt")]));
        let (_, ps) =
            disposition(b"ATTACHMENT; filename*1*=%AC.txt; filename*0*=utf-8''%E2%82").expect("ok");
        assert_eq!(ps, p(&[("filename", "€.txt")]));
        let (ty, ps) = disposition(b"inline").expect("ok");
        assert_eq!(ty, "inline");
        assert!(ps.is_empty());
    }

    #[test]
    fn tokens_and_languages() {
        assert_eq!(single_token(b" (c) Base64 (x)"), Some("base64".into()));
        assert_eq!(single_token(b"  "), None);
        assert_eq!(
            language_list(b"en, fr (French) ,, de-CH"),
            vec!["en", "fr", "de-CH"]
        );
    }

    #[test]
    fn params_are_bounded() {
        let mut v = b"text/plain".to_vec();
        for i in 0..1000 {
            v.extend_from_slice(format!("; p{i}*{i}=x").as_bytes());
        }
        let (_, _, ps) = content_type(&v).expect("ok");
        assert!(ps.len() <= MAX_PARAMS);
    }
}
