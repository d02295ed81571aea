//! RFC 5322 §3.4 address lists split the way IMAP ENVELOPE wants them
//! (RFC 9051 §7.5.2 `address`): display name, source route, mailbox
//! (local part) and host, all as raw header text (encoded words are *not*
//! decoded), with groups flattened into start/end markers.
//!
//! Lenient and linear: obsolete syntax (routes, CFWS around dots, a comment
//! as the only name) is accepted, garbage yields whatever addresses can be
//! recognised, never a panic.

use crate::envelope::EnvelopeAddress;

/// Host reported for a mailbox written without a domain: a NIL host would
/// mean "group marker" in ENVELOPE, so a placeholder that cannot be a real
/// domain name is used (the long-standing IMAP convention).
pub const MISSING_HOST: &[u8] = b".MISSING-HOST-NAME.";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// An atom (dots included) or a quoted string.
    Word { quoted: bool },
    /// `[...]` domain literal.
    Literal,
    /// One of `< > @ , : ;` (or a stray `]`).
    Special(u8),
    /// `(...)`; `start..end` excludes the parentheses.
    Comment,
}

#[derive(Debug, Clone, Copy)]
struct Tok {
    kind: Kind,
    start: usize,
    end: usize,
    /// Whitespace (or a comment) separated this token from the previous.
    space_before: bool,
}

fn tokenize(s: &[u8]) -> Vec<Tok> {
    let mut toks = Vec::new();
    let mut i = 0;
    let mut space = false;
    while i < s.len() {
        let b = s[i];
        let start = i;
        let kind = match b {
            b' ' | b'\t' | b'\r' | b'\n' => {
                space = true;
                i += 1;
                continue;
            }
            b')' => {
                // A stray `)` (no comment open): dropped like the end of an
                // empty comment. Words stop at `)`, so without this arm the
                // loop would never advance past it.
                space = true;
                i += 1;
                continue;
            }
            b'(' => {
                let mut depth = 0usize;
                while i < s.len() {
                    match s[i] {
                        b'\\' => i += 1,
                        b'(' => depth += 1,
                        b')' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
                let end = i.min(s.len());
                i = (i + 1).min(s.len());
                toks.push(Tok {
                    kind: Kind::Comment,
                    start: start + 1,
                    end,
                    space_before: space,
                });
                space = true;
                continue;
            }
            b'"' => {
                i += 1;
                while i < s.len() && s[i] != b'"' {
                    i += if s[i] == b'\\' { 2 } else { 1 };
                }
                i = (i + 1).min(s.len());
                Kind::Word { quoted: true }
            }
            b'[' => {
                while i < s.len() && s[i] != b']' {
                    i += 1;
                }
                i = (i + 1).min(s.len());
                Kind::Literal
            }
            b'<' | b'>' | b'@' | b',' | b':' | b';' | b']' | b'\\' => {
                i += 1;
                Kind::Special(b)
            }
            _ => {
                while i < s.len()
                    && !matches!(
                        s[i],
                        b' ' | b'\t'
                            | b'\r'
                            | b'\n'
                            | b'('
                            | b')'
                            | b'"'
                            | b'['
                            | b']'
                            | b'<'
                            | b'>'
                            | b'@'
                            | b','
                            | b':'
                            | b';'
                            | b'\\'
                    )
                {
                    i += 1;
                }
                Kind::Word { quoted: false }
            }
        };
        toks.push(Tok {
            kind,
            start,
            end: i,
            space_before: space,
        });
        space = false;
    }
    toks
}

/// The text of a display name: quoted strings unquoted and unescaped,
/// tokens joined by one space where the input had whitespace.
fn phrase(s: &[u8], toks: &[Tok]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for t in toks.iter().filter(|t| t.kind != Kind::Comment) {
        if !out.is_empty() && t.space_before {
            out.push(b' ');
        }
        let raw = &s[t.start..t.end];
        if t.kind == (Kind::Word { quoted: true }) {
            let inner = raw.strip_prefix(b"\"").unwrap_or(raw);
            let inner = inner.strip_suffix(b"\"").unwrap_or(inner);
            let mut esc = false;
            for &c in inner {
                if esc || c != b'\\' {
                    out.push(c);
                    esc = false;
                } else {
                    esc = true;
                }
            }
        } else {
            out.extend_from_slice(raw);
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Raw text of tokens as written minus CFWS (addr-spec parts: a quoted
/// local part keeps its quotes). Two words separated by whitespace keep one
/// space, unless a dot is adjacent (obsolete `a . b` local parts).
fn raw_join(s: &[u8], toks: &[Tok]) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::new();
    for t in toks.iter().filter(|t| t.kind != Kind::Comment) {
        let raw = &s[t.start..t.end];
        if t.space_before
            && out.last().is_some_and(|&c| c != b'.')
            && raw.first() != Some(&b'.')
            && matches!(t.kind, Kind::Word { .. })
        {
            out.push(b' ');
        }
        out.extend_from_slice(raw);
    }
    out
}

/// The last comment's text in `toks` (used as the name of a bare addr-spec,
/// `user@host (Full Name)`).
fn comment_name(s: &[u8], toks: &[Tok]) -> Option<Vec<u8>> {
    toks.iter()
        .rev()
        .find(|t| t.kind == Kind::Comment)
        .map(|t| crate::header::trim(&s[t.start..t.end]).to_vec())
        .filter(|c| !c.is_empty())
}

/// `[route ":"] local "@" domain` → (adl, mailbox, host).
fn addr_spec(s: &[u8], toks: &[Tok]) -> (Option<Vec<u8>>, Vec<u8>, Vec<u8>) {
    let mut toks = toks;
    let mut adl = None;
    let first = toks.iter().find(|t| t.kind != Kind::Comment);
    if first.is_some_and(|t| t.kind == Kind::Special(b'@'))
        && let Some(colon) = toks.iter().position(|t| t.kind == Kind::Special(b':'))
    {
        adl = Some(raw_join(s, &toks[..colon]));
        toks = &toks[colon + 1..];
    }
    match toks.iter().rposition(|t| t.kind == Kind::Special(b'@')) {
        Some(at) => {
            let host = raw_join(s, &toks[at + 1..]);
            let host = if host.is_empty() {
                MISSING_HOST.to_vec()
            } else {
                host
            };
            (adl, raw_join(s, &toks[..at]), host)
        }
        None => (adl, raw_join(s, toks), MISSING_HOST.to_vec()),
    }
}

fn has_content(toks: &[Tok]) -> bool {
    toks.iter().any(|t| t.kind != Kind::Comment)
}

/// Parses an address-list header value (raw, possibly folded) into
/// ENVELOPE addresses, in order. Group syntax becomes a start marker
/// (`mailbox` = group name, `host` = NIL) and an end marker (all NIL),
/// as RFC 9051 §7.5.2 specifies. Returns an empty list for a value with
/// no recognisable address.
pub fn parse_address_list(value: &[u8]) -> Vec<EnvelopeAddress> {
    let s = value;
    let toks = tokenize(s);
    let mut out = Vec::new();
    let mut in_group = false;
    let mut i = 0;
    while i < toks.len() {
        // Find what ends this element: a separator, a group colon or an
        // angle address.
        let mut j = i;
        while j < toks.len() && !matches!(toks[j].kind, Kind::Special(b',' | b';' | b'<' | b':')) {
            j += 1;
        }
        match toks.get(j).map(|t| t.kind) {
            Some(Kind::Special(b':')) if !in_group => {
                let name = phrase(s, &toks[i..j]).unwrap_or_default();
                out.push(EnvelopeAddress {
                    mailbox: Some(name),
                    ..EnvelopeAddress::default()
                });
                in_group = true;
                i = j + 1;
            }
            Some(Kind::Special(b':')) => {
                // A colon inside a group outside any angle address: junk.
                i = j + 1;
            }
            Some(Kind::Special(b'<')) => {
                let close = toks[j + 1..]
                    .iter()
                    .position(|t| t.kind == Kind::Special(b'>'))
                    .map_or(toks.len(), |k| j + 1 + k);
                // Anything after ">" up to the next separator is ignored,
                // except a comment that can serve as the name.
                let mut next = (close + 1).min(toks.len());
                while next < toks.len() && !matches!(toks[next].kind, Kind::Special(b',' | b';')) {
                    next += 1;
                }
                let inner = &toks[j + 1..close];
                let (adl, mailbox, host) = addr_spec(s, inner);
                let name = phrase(s, &toks[i..j]).or_else(|| {
                    comment_name(s, &toks[(close + 1).min(toks.len())..next])
                        .or_else(|| comment_name(s, &toks[i..j]))
                });
                out.push(EnvelopeAddress {
                    name,
                    adl,
                    mailbox: Some(mailbox),
                    host: Some(host),
                });
                i = next;
            }
            sep => {
                let item = &toks[i..j];
                if has_content(item) {
                    let (adl, mailbox, host) = addr_spec(s, item);
                    out.push(EnvelopeAddress {
                        name: comment_name(s, item),
                        adl,
                        mailbox: Some(mailbox),
                        host: Some(host),
                    });
                }
                if sep == Some(Kind::Special(b';')) && in_group {
                    out.push(EnvelopeAddress::default());
                    in_group = false;
                }
                i = j + 1;
            }
        }
    }
    if in_group {
        out.push(EnvelopeAddress::default());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(name: Option<&str>, mailbox: &str, host: &str) -> EnvelopeAddress {
        EnvelopeAddress {
            name: name.map(|n| n.as_bytes().to_vec()),
            adl: None,
            mailbox: Some(mailbox.as_bytes().to_vec()),
            host: Some(host.as_bytes().to_vec()),
        }
    }

    #[test]
    fn name_addr_and_addr_spec() {
        let got = parse_address_list(
            b"Terry Gray <gray@cac.washington.edu>, minutes@CNRI.Reston.VA.US,\r\n \"Klensin, John\" <KLENSIN@MIT.EDU>",
        );
        assert_eq!(
            got,
            vec![
                a(Some("Terry Gray"), "gray", "cac.washington.edu"),
                a(None, "minutes", "CNRI.Reston.VA.US"),
                a(Some("Klensin, John"), "KLENSIN", "MIT.EDU"),
            ]
        );
    }

    #[test]
    fn encoded_words_stay_raw_and_comments_name() {
        let got = parse_address_list(
            b"=?ISO-8859-1?Q?Andr=E9?= Pirard <PIRARD@vm1.ulg.ac.be>, pete@silly.test (Pete Resnick)",
        );
        assert_eq!(
            got,
            vec![
                a(
                    Some("=?ISO-8859-1?Q?Andr=E9?= Pirard"),
                    "PIRARD",
                    "vm1.ulg.ac.be"
                ),
                a(Some("Pete Resnick"), "pete", "silly.test"),
            ]
        );
    }

    #[test]
    fn groups_become_markers() {
        let got = parse_address_list(
            b"A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;, undisclosed-recipients:;",
        );
        let start = |n: &str| EnvelopeAddress {
            mailbox: Some(n.as_bytes().to_vec()),
            ..EnvelopeAddress::default()
        };
        assert_eq!(
            got,
            vec![
                start("A Group"),
                a(Some("Ed Jones"), "c", "a.test"),
                a(None, "joe", "where.test"),
                a(Some("John"), "jdoe", "one.test"),
                EnvelopeAddress::default(),
                start("undisclosed-recipients"),
                EnvelopeAddress::default(),
            ]
        );
    }

    #[test]
    fn routes_quoted_locals_literals_and_missing_hosts() {
        let got = parse_address_list(
            b"<@a.test,@b.test:joe@c.test>, \"john doe\"@x.test, bob, x@[10.0.0.1], j . q @ d . test",
        );
        assert_eq!(got[0].adl.as_deref(), Some(&b"@a.test,@b.test"[..]));
        assert_eq!(got[0].mailbox.as_deref(), Some(&b"joe"[..]));
        assert_eq!(got[1], a(None, "\"john doe\"", "x.test"));
        assert_eq!(got[2], a(None, "bob", ".MISSING-HOST-NAME."));
        assert_eq!(got[3], a(None, "x", "[10.0.0.1]"));
        assert_eq!(got[4], a(None, "j.q", "d.test"));
    }

    #[test]
    fn garbage_is_survived() {
        for g in [
            &b""[..],
            b",,,;;;:::",
            b"<<<>>>@@@",
            b"\"unterminated",
            b"(((",
            b"a:b:c;d;e<",
            b"<>",
            b"\\",
        ] {
            for addr in parse_address_list(g) {
                // A mailbox never comes out NIL unless it is a group end.
                if addr.host.is_some() {
                    assert!(addr.mailbox.is_some());
                }
            }
        }
        assert!(parse_address_list(b"  (just a comment) ").is_empty());
    }

    /// Found by the `mime` fuzz target: a `)` with no comment open made the
    /// tokenizer loop forever, pushing empty words until memory ran out.
    #[test]
    fn stray_close_paren_ends() {
        let got = parse_address_list(b"A Group:Ed Jones <c@a.test>,joe@where.test,Jempty)");
        assert_eq!(
            got,
            vec![
                EnvelopeAddress {
                    name: None,
                    adl: None,
                    mailbox: Some(b"A Group".to_vec()),
                    host: None,
                },
                a(Some("Ed Jones"), "c", "a.test"),
                a(None, "joe", "where.test"),
                a(None, "Jempty", ".MISSING-HOST-NAME."),
                EnvelopeAddress::default(),
            ]
        );
        assert_eq!(parse_address_list(b")"), vec![]);
        assert_eq!(
            parse_address_list(b"a@b.test ) , c@d.test)"),
            vec![a(None, "a", "b.test"), a(None, "c", "d.test")]
        );
    }
}
