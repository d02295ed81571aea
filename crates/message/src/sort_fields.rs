//! What IMAP SORT and THREAD (RFC 5256, RFC 5957) read from a message:
//! [`SortFields`], the subset of the stored [`Summary`] they need (a store
//! can load it from the summary's JSON without the MIME tree and ENVELOPE),
//! and the pure functions that turn it into sort values: the base subject
//! (RFC 5256 §2.1, [`base_subject`]), the `addr-mailbox` of an address
//! ([`addr_mailbox`]) and the RFC 5957 §3 display value
//! ([`display_value`]).

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
    /// The extracted text (case kept; compare with i;ascii-casemap).
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
            // remains.
            if let Some(n) = blob(text.as_bytes(), 0)
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
    fn base_subject_never_panics_on_odd_input() {
        for s in [
            "[", "]", "[[", "Re", "Re[", "Re[x", "fw", "(fwd", "[fwd:", "[fwd:]]", "\u{0}",
        ] {
            let _ = base_subject(s);
        }
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
