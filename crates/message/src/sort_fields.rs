//! What IMAP SORT and THREAD (RFC 5256, RFC 5957) read from a message:
//! [`SortFields`], the subset of the stored [`Summary`] they need (a store
//! can load it from the summary's JSON without the MIME tree and ENVELOPE),
//! and the pure functions that turn it into sort values: the base subject
//! (RFC 5256 §2.1, [`base_subject`]), the `addr-mailbox` of an address
//! ([`addr_mailbox`]) and the RFC 5957 §3 display value
//! ([`display_value`]), and the i;unicode-casemap collation key they are
//! compared by ([`unicode_casemap`]).

use serde::{Deserialize, Serialize};

use crate::summary::{Summary, SummaryAddress};

/// The summary fields SORT and THREAD use. Field names are those of
/// [`Summary`], so a summary's JSON deserialises into this directly
/// (other fields are skipped).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct SortFields {
    /// `Date:` as Unix time (UTC), if present and valid.
    pub date: Option<i64>,
    /// `Subject:`, RFC 2047-decoded and unfolded.
    pub subject: Option<String>,
    pub from: Vec<SummaryAddress>,
    pub to: Vec<SummaryAddress>,
    pub cc: Vec<SummaryAddress>,
    /// `Message-ID:` without angle brackets.
    pub message_id: Option<String>,
    /// `In-Reply-To:` ids without angle brackets.
    pub in_reply_to: Vec<String>,
    /// `References:` ids without angle brackets, in order.
    pub references: Vec<String>,
}

impl From<&Summary> for SortFields {
    fn from(s: &Summary) -> SortFields {
        SortFields {
            date: s.date,
            subject: s.subject.clone(),
            from: s.from.clone(),
            to: s.to.clone(),
            cc: s.cc.clone(),
            message_id: s.message_id.clone(),
            in_reply_to: s.in_reply_to.clone(),
            references: s.references.clone(),
        }
    }
}

/// The RFC 5256 §2.1 base subject of a subject.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseSubject {
    /// The extracted text (case kept; compare with i;unicode-casemap,
    /// [`unicode_casemap`]).
    pub text: String,
    /// RFC 5256 §2.1: the extraction removed a `subj-refwd`, a `(fwd)`
    /// `subj-trailer`, or a `subj-fwd-hdr` / `subj-fwd-trl` pair (THREAD
    /// REFERENCES step 5 and 6 need this).
    pub reply_or_forward: bool,
}

/// RFC 5256 §2.1 base subject extraction, steps (1) to (7), on a subject
/// already RFC 2047-decoded to UTF-8 (the stored summary's).
///
/// All the markers the algorithm removes are ASCII, and `[`, `]`, `(`,
/// `:` and SP never occur inside a UTF-8 multi-octet sequence, so the
/// text is cut at octet positions that are always character boundaries.
pub fn base_subject(subject: &str) -> BaseSubject {
    // (1) Tabs and continuations (CR / LF) to SP; runs of SP to one SP.
    let mut s = String::with_capacity(subject.len());
    for ch in subject.chars() {
        let ch = if matches!(ch, '\t' | '\r' | '\n') {
            ' '
        } else {
            ch
        };
        if ch == ' ' && s.ends_with(' ') {
            continue;
        }
        s.push(ch);
    }
    let mut reply = false;
    let mut text: &str = &s;
    loop {
        // (2) Remove trailing subj-trailer = "(fwd)" / WSP, repeatedly.
        loop {
            if let Some(t) = text.strip_suffix(' ') {
                text = t;
            } else if text.len() >= 5
                && text.as_bytes()[text.len() - 5..].eq_ignore_ascii_case(b"(fwd)")
            {
                text = &text[..text.len() - 5];
                reply = true;
            } else {
                break;
            }
        }
        // (5) Repeat (3) and (4) until nothing changes.
        loop {
            let before = text.len();
            // (3) Remove all prefix text matching subj-leader =
            // (*subj-blob subj-refwd) / WSP.
            loop {
                if let Some(t) = text.strip_prefix(' ') {
                    text = t;
                } else if let Some(n) = leader_refwd(text.as_bytes()) {
                    text = &text[n..];
                    reply = true;
                } else {
                    break;
                }
            }
            // (4) Remove a leading subj-blob if a non-empty subj-base
            // remains. (3) just failed after this run of blobs and would
            // fail the same way after each removal (it only looks past
            // them), so the run is removed here in one pass rather than
            // one blob per round of (5): k blobs cost O(k), not O(k²).
            while let Some(n) = blob(text.as_bytes(), 0)
                && text[n..].bytes().any(|b| b != b' ')
            {
                text = &text[n..];
            }
            if text.len() == before {
                break;
            }
        }
        // (6) "[fwd:" ... "]": remove both and repeat from (2).
        let b = text.as_bytes();
        if b.len() >= 6 && b[..5].eq_ignore_ascii_case(b"[fwd:") && b[b.len() - 1] == b']' {
            text = &text[5..text.len() - 1];
            reply = true;
            continue;
        }
        // (7)
        return BaseSubject {
            text: text.to_string(),
            reply_or_forward: reply,
        };
    }
}

/// subj-blob = "[" *BLOBCHAR "]" *WSP at `i`: the offset just past it.
/// BLOBCHAR is any octet but `[` and `]`.
fn blob(b: &[u8], i: usize) -> Option<usize> {
    if b.get(i) != Some(&b'[') {
        return None;
    }
    let close = i + 1 + b[i + 1..].iter().position(|&c| c == b'[' || c == b']')?;
    if b[close] != b']' {
        return None;
    }
    let mut j = close + 1;
    while b.get(j) == Some(&b' ') {
        j += 1;
    }
    Some(j)
}

/// `*subj-blob subj-refwd` at the start: the length matched.
/// subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"
fn leader_refwd(b: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(j) = blob(b, i) {
        i = j;
    }
    let starts =
        |i: usize, w: &[u8]| b.len() >= i + w.len() && b[i..i + w.len()].eq_ignore_ascii_case(w);
    if starts(i, b"re") {
        i += 2;
    } else if starts(i, b"fw") {
        i += 2;
        if starts(i, b"d") {
            i += 1;
        }
    } else {
        return None;
    }
    while b.get(i) == Some(&b' ') {
        i += 1;
    }
    if let Some(j) = blob(b, i) {
        i = j;
    }
    (b.get(i) == Some(&b':')).then_some(i + 1)
}

/// The RFC 5051 i;unicode-casemap "titlecased canonicalized UTF-8" form
/// of `s`: compared octet by octet, it is the collation RFC 5256 §1
/// requires for SORT and THREAD (that of I18NLEVEL=1, RFC 5255 §4.1).
///
/// RFC 5051 §2: each character is replaced by its UnicodeData titlecase
/// mapping, then by its UnicodeData decomposition (canonical or
/// compatibility), recursively; the characters a decomposition yields are
/// titlecased in turn. Hangul syllables have no UnicodeData decomposition
/// (theirs is algorithmic) and stay as they are.
pub fn unicode_casemap(s: &str) -> Vec<u8> {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii() {
            // No ASCII character has a decomposition.
            out.push(c.to_ascii_uppercase());
            continue;
        }
        let t = titlecase(c);
        if ('\u{AC00}'..='\u{D7A3}').contains(&t) {
            out.push(t);
            continue;
        }
        unicode_normalization::char::decompose_compatible(t, |d| out.push(titlecase(d)));
    }
    out.into_bytes()
}

/// The UnicodeData simple titlecase mapping of `c` (field 14; `c` when
/// empty). It equals the simple uppercase mapping except for the Latin
/// digraphs (titlecase is the mixed-case form) and Georgian Mkhedruli
/// (no titlecase since Unicode 11). Rust's `to_uppercase` is the full
/// mapping: where that is several characters, the simple mapping is
/// either absent (`ß`, `ŉ`) or, for the Greek letters with
/// ypogegrammeni, the letter whose decomposition then titlecases the same
/// way as `c`'s does, so `c` is kept.
fn titlecase(c: char) -> char {
    match c {
        '\u{01C4}'..='\u{01C6}' => '\u{01C5}',
        '\u{01C7}'..='\u{01C9}' => '\u{01C8}',
        '\u{01CA}'..='\u{01CC}' => '\u{01CB}',
        '\u{01F1}'..='\u{01F3}' => '\u{01F2}',
        '\u{10D0}'..='\u{10FA}' | '\u{10FD}'..='\u{10FF}' => c,
        c if c.is_ascii() => c.to_ascii_uppercase(),
        c => {
            let mut up = c.to_uppercase();
            match (up.next(), up.next()) {
                (Some(u), None) => u,
                _ => c,
            }
        }
    }
}

/// The IMAP `addr-mailbox` (local part) of an address: RFC 5256 §3 sorts
/// CC, FROM and TO on that of the first address. Empty when there is none.
pub fn addr_mailbox(a: &SummaryAddress) -> &str {
    let addr = a.address.as_deref().unwrap_or("");
    match addr.rfind('@') {
        Some(i) => &addr[..i],
        None => addr,
    }
}

/// RFC 5957 §3: the display name (already RFC 2047-decoded) if it is not
/// empty, else `mailbox@host`, else the mailbox, else empty.
pub fn display_value(a: &SummaryAddress) -> &str {
    match (a.name.as_deref(), a.address.as_deref()) {
        (Some(n), _) if !n.is_empty() => n,
        (_, Some(addr)) => addr,
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(s: &str) -> (String, bool) {
        let b = base_subject(s);
        (b.text, b.reply_or_forward)
    }

    #[test]
    fn base_subject_table() {
        let table: &[(&str, &str, bool)] = &[
            ("", "", false),
            ("Hello world", "Hello world", false),
            // (1) whitespace
            ("  Hello \t\r\n  world  ", "Hello world", false),
            // (3) subj-refwd, any case, nested
            ("Re: Hello", "Hello", true),
            ("RE:Hello", "Hello", true),
            ("re : Hello", "Hello", true),
            ("Fw: Hello", "Hello", true),
            ("FWD: Hello", "Hello", true),
            ("Re: Re: re: Hello", "Hello", true),
            ("Re: Fwd: RE: Hello", "Hello", true),
            // refwd with a blob before the colon (counter)
            ("Re[2]: Hello", "Hello", true),
            ("Re [2]: Hello", "Hello", true),
            ("Fwd[x]:Hello", "Hello", true),
            // Not refwd: "Re(2):", "Reply:", "Fwdx:", no colon
            ("Re(2): Hello", "Re(2): Hello", false),
            ("Reply: Hello", "Reply: Hello", false),
            ("Re Hello", "Re Hello", false),
            ("Fwdx: Hello", "Fwdx: Hello", false),
            // blobs before a refwd (list tags)
            ("[list] Re: Hello", "Hello", true),
            ("[a][b] Re: [c] Re: Hello", "Hello", true),
            // (4) a leading blob alone is removed only if text remains
            ("[list] Hello", "Hello", false),
            ("[list]", "[list]", false),
            ("[a] [b]", "[b]", false),
            ("Re: [list]", "[list]", true),
            ("[list] Re:", "", true),
            ("[unclosed Hello", "[unclosed Hello", false),
            ("[a[b] Hello", "[a[b] Hello", false),
            // (2) trailers
            ("Hello (fwd)", "Hello", true),
            ("Hello (FWD) (fwd)  ", "Hello", true),
            ("Hello(fwd)", "Hello", true),
            ("Hello (fwd) x", "Hello (fwd) x", false),
            // (6) [fwd: ...] wrappers, repeated from (2)
            ("[fwd: Hello]", "Hello", true),
            ("[Fwd: Re: Hello (fwd)]", "Hello", true),
            ("[fwd: [fwd: Hello] ]", "Hello", true),
            ("[fwd: Hello] x", "x", false),
            ("Re: [fwd: Re: Hello]", "Hello", true),
            ("[fwd:]", "", true),
            // UTF-8 stays intact
            ("Re: Grüße [ä] ö", "Grüße [ä] ö", true),
            ("[日本] Re: 件名", "件名", true),
        ];
        for (input, want, reply) in table {
            assert_eq!(
                base(input),
                (want.to_string(), *reply),
                "base subject of {input:?}"
            );
        }
    }

    #[test]
    fn base_subject_is_idempotent() {
        for s in [
            "Re: [x] Fwd: a (fwd)",
            "[fwd: b]",
            "  c  ",
            "[d]",
            "Re: [e]",
        ] {
            let once = base_subject(s).text;
            assert_eq!(base_subject(&once).text, once, "{s:?}");
        }
    }

    #[test]
    fn base_subject_is_linear_in_blobs() {
        // 80 000 blobs: one pass, not one (3) scan of the rest per blob.
        let many = "[a]".repeat(80_000);
        let t = std::time::Instant::now();
        assert_eq!(base_subject(&format!("{many} x")).text, "x");
        assert_eq!(base_subject(&many).text, "[a]");
        assert_eq!(base_subject(&format!("{many}Re: y")).text, "y");
        assert!(t.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn base_subject_never_panics_on_odd_input() {
        for s in [
            "[", "]", "[[", "Re", "Re[", "Re[x", "fw", "(fwd", "[fwd:", "[fwd:]]", "\u{0}",
        ] {
            let _ = base_subject(s);
        }
    }

    #[test]
    fn unicode_casemap_collation() {
        let key = |s: &str| String::from_utf8(unicode_casemap(s)).unwrap();
        // ASCII: as i;ascii-casemap.
        assert_eq!(key("Hello, World_1"), "HELLO, WORLD_1");
        // Accented letters: titlecased and decomposed, so the precomposed
        // and the combining forms, in any case, are equal.
        assert_eq!(key("école"), key("E\u{301}COLE"));
        assert_eq!(key("ÉCOLE"), "E\u{301}COLE");
        assert_eq!(key("ñ"), key("Ñ"));
        // Greek, Cyrillic: case-insensitive.
        assert_eq!(key("αβγ"), key("ΑΒΓ"));
        assert_eq!(key("привет"), key("ПРИВЕТ"));
        // Compatibility decompositions: ligatures, full-width forms.
        assert_eq!(key("\u{FB01}le"), "FILE");
        assert_eq!(key("\u{FF21}"), "A");
        // Digraphs map to their titlecase form.
        assert_eq!(key("\u{01C6}"), key("\u{01C4}"));
        // No SpecialCasing: ß is not SS.
        assert_ne!(key("straße"), key("STRASSE"));
        // Hangul syllables are kept.
        assert_eq!(key("한"), "한");
        // Order: é sorts with E, before F (i;ascii-casemap put it last).
        assert!(unicode_casemap("été") < unicode_casemap("Fin"));
    }

    #[test]
    fn addresses() {
        let a = SummaryAddress {
            name: Some("Zed Doe".into()),
            address: Some("john.doe@example.org".into()),
            group: None,
        };
        assert_eq!(addr_mailbox(&a), "john.doe");
        assert_eq!(display_value(&a), "Zed Doe");
        let b = SummaryAddress {
            name: Some(String::new()),
            address: Some("x@y".into()),
            group: None,
        };
        assert_eq!(display_value(&b), "x@y");
        assert_eq!(display_value(&SummaryAddress::default()), "");
        assert_eq!(addr_mailbox(&SummaryAddress::default()), "");
    }

    #[test]
    fn sort_fields_load_from_summary_json() {
        let raw = b"From: A <a@x>\r\nTo: b@y\r\nCc: c@z\r\nSubject: Re: hi\r\nDate: Thu, 1 Jan 2015 00:00:00 +0100\r\nMessage-ID: <m1@x>\r\nIn-Reply-To: <m0@x>\r\nReferences: <r@x> <m0@x>\r\n\r\nbody\r\n";
        let summary = crate::summary::summarize(raw);
        let json = serde_json::to_string(&summary).unwrap();
        let fields: SortFields = serde_json::from_str(&json).unwrap();
        assert_eq!(fields, SortFields::from(&summary));
        assert_eq!(fields.date, Some(1_420_066_800));
        assert_eq!(fields.message_id.as_deref(), Some("m1@x"));
        assert_eq!(fields.references, vec!["r@x", "m0@x"]);
        assert_eq!(addr_mailbox(&fields.from[0]), "a");
    }
}
