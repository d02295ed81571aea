//! Parse-once message summaries.
//!
//! [`summarize`] parses a message's header section once, at delivery, into a
//! [`Summary`] that the store keeps next to the message (as JSON), so that
//! IMAP ENVELOPE, SEARCH and SORT, and POP3/IMAP header fetches never have to
//! re-parse the message (DESIGN §4).
//!
//! Field semantics follow RFC 5322 §3.6; encoded words (RFC 2047) are
//! decoded and folded lines unfolded. Message ids are stored without their
//! angle brackets. The summary is extensible: every field has a serde
//! default, so summaries written by older versions still deserialise when
//! fields are added.

use mail_parser::{Address, HeaderValue, MessageParser};
use serde::{Deserialize, Serialize};

use crate::envelope::Envelope;
use crate::mime::MimeTree;

/// One mailbox of an address header (RFC 5322 §3.4).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct SummaryAddress {
    /// Display name, decoded.
    pub name: Option<String>,
    /// `local@domain` as written (not lowercased).
    pub address: Option<String>,
    /// The name of the RFC 5322 group this mailbox was listed in, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

/// What IMAP/search need from a message without re-parsing it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default)]
pub struct Summary {
    /// Length in octets of the header section including the empty line that
    /// ends it, i.e. the offset of the body (RFC 9051 `BODY[HEADER]`). The
    /// whole message when there is no empty line.
    pub header_len: u64,
    /// `Date:` as Unix time, if present and valid.
    pub date: Option<i64>,
    /// `Subject:`, decoded and unfolded.
    pub subject: Option<String>,
    pub from: Vec<SummaryAddress>,
    pub sender: Vec<SummaryAddress>,
    pub reply_to: Vec<SummaryAddress>,
    pub to: Vec<SummaryAddress>,
    pub cc: Vec<SummaryAddress>,
    pub bcc: Vec<SummaryAddress>,
    /// `In-Reply-To:` message ids, without angle brackets.
    pub in_reply_to: Vec<String>,
    /// `Message-ID:`, without angle brackets.
    pub message_id: Option<String>,
    /// `References:` message ids, without angle brackets, in order.
    pub references: Vec<String>,
    /// IMAP ENVELOPE data: raw (still encoded) header values
    /// (RFC 9051 §7.5.2).
    #[serde(skip_serializing_if = "is_default_envelope")]
    pub envelope: Envelope,
    /// MIME structure with exact byte offsets (BODYSTRUCTURE, sections).
    #[serde(skip_serializing_if = "MimeTree::is_empty")]
    pub mime: MimeTree,
}

fn is_default_envelope(e: &Envelope) -> bool {
    *e == Envelope::default()
}

/// The offset just past the empty line ending the header section (RFC 5322
/// §2.1), accepting bare LF line ends; `raw.len()` if there is none.
pub fn header_len(raw: &[u8]) -> usize {
    let mut line_start = 0;
    while line_start < raw.len() {
        let line_end = match raw[line_start..].iter().position(|&b| b == b'\n') {
            Some(i) => line_start + i + 1,
            None => return raw.len(),
        };
        let line = &raw[line_start..line_end];
        if line == b"\n" || line == b"\r\n" {
            return line_end;
        }
        line_start = line_end;
    }
    raw.len()
}

fn addresses(value: Option<&Address<'_>>) -> Vec<SummaryAddress> {
    let Some(value) = value else {
        return Vec::new();
    };
    let convert = |a: &mail_parser::Addr<'_>, group: Option<&str>| SummaryAddress {
        name: a.name.as_deref().map(str::to_owned),
        address: a.address.as_deref().map(str::to_owned),
        group: group.map(str::to_owned),
    };
    match value {
        Address::List(list) => list.iter().map(|a| convert(a, None)).collect(),
        Address::Group(groups) => groups
            .iter()
            .flat_map(|g| {
                g.addresses
                    .iter()
                    .map(move |a| convert(a, g.name.as_deref()))
            })
            .collect(),
    }
}

fn ids(value: &HeaderValue<'_>) -> Vec<String> {
    match value {
        HeaderValue::Text(t) => vec![t.to_string()],
        HeaderValue::TextList(list) => list.iter().map(|t| t.to_string()).collect(),
        _ => Vec::new(),
    }
}

/// Header sections longer than this are reduced before `mail-parser`
/// sees them ([`crate::header::bounded_header`]).
const MAX_PARSED_HEADER: usize = 256 * 1024;

/// Fields past [`MAX_PARSED_HEADER`] still parsed, at most.
const MAX_LATE_FIELDS: usize = 1000;

/// The fields the summary reads.
const SUMMARY_FIELDS: &[&str] = &[
    "Date",
    "Subject",
    "From",
    "Sender",
    "Reply-To",
    "To",
    "Cc",
    "Bcc",
    "In-Reply-To",
    "Message-ID",
    "References",
];

/// Summarises a raw RFC 5322 message. Never panics; fields that are absent
/// or unparseable are left empty.
pub fn summarize(raw: &[u8]) -> Summary {
    let header_len = header_len(raw);
    let mut summary = Summary {
        header_len: header_len as u64,
        envelope: Envelope::parse(&raw[..header_len]),
        mime: MimeTree::parse(raw),
        ..Summary::default()
    };
    // Only the header section matters; the parser never panics and returns
    // `None` when it finds no header at all. It allocates per field, so a
    // huge section (a header-count bomb) is cut down to the fields read
    // below first.
    let reduced;
    let input = if header_len > MAX_PARSED_HEADER {
        reduced = crate::header::bounded_header(
            &raw[..header_len],
            MAX_PARSED_HEADER,
            MAX_LATE_FIELDS,
            |name| {
                SUMMARY_FIELDS
                    .iter()
                    .any(|f| name.eq_ignore_ascii_case(f.as_bytes()))
            },
        );
        &reduced[..]
    } else {
        raw
    };
    let Some(message) = MessageParser::default().parse_headers(input) else {
        return summary;
    };
    summary.date = message
        .date()
        .filter(|d| d.is_valid())
        .map(|d| d.to_timestamp());
    summary.subject = message.subject().map(str::to_owned);
    summary.from = addresses(message.from());
    summary.sender = addresses(message.sender());
    summary.reply_to = addresses(message.reply_to());
    summary.to = addresses(message.to());
    summary.cc = addresses(message.cc());
    summary.bcc = addresses(message.bcc());
    summary.in_reply_to = ids(message.in_reply_to());
    summary.message_id = message.message_id().map(str::to_owned);
    summary.references = ids(message.references());
    summary
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIMPLE: &[u8] = b"From: Alice Example <alice@example.org>\r\n\
        To: bob@example.net, \"Carol C.\" <carol@example.net>\r\n\
        Cc: undisclosed-recipients:;\r\n\
        Subject: Hello\r\n\
        Date: Tue, 1 Jul 2003 10:52:37 +0200\r\n\
        Message-ID: <1234@local.machine.example>\r\n\
        In-Reply-To: <parent@example.org>\r\n\
        References: <root@example.org> <parent@example.org>\r\n\
        \r\n\
        Body text.\r\n";

    #[test]
    fn a_header_count_bomb_is_summarised_from_a_bounded_header() {
        let mut m = b"From: a@example.org\r\n".to_vec();
        for i in 0..100_000 {
            m.extend_from_slice(format!("X-F-{i}: v\r\n").as_bytes());
        }
        m.extend_from_slice(b"Subject: late\r\nTo: b@example.org\r\n\r\nbody\r\n");
        let s = summarize(&m);
        assert_eq!(s.subject.as_deref(), Some("late"));
        assert_eq!(s.from[0].address.as_deref(), Some("a@example.org"));
        assert_eq!(s.to[0].address.as_deref(), Some("b@example.org"));
        assert_eq!(&m[s.header_len as usize..], b"body\r\n");
    }

    #[test]
    fn simple_message_is_summarised() {
        let s = summarize(SIMPLE);
        let body_at = SIMPLE
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|i| i + 4);
        assert_eq!(Some(s.header_len as usize), body_at);
        assert_eq!(&SIMPLE[s.header_len as usize..], b"Body text.\r\n");
        assert_eq!(s.subject.as_deref(), Some("Hello"));
        assert_eq!(s.date, Some(1_057_049_557));
        assert_eq!(
            s.from,
            vec![SummaryAddress {
                name: Some("Alice Example".into()),
                address: Some("alice@example.org".into()),
                group: None,
            }]
        );
        assert_eq!(s.to.len(), 2);
        assert_eq!(s.to[0].address.as_deref(), Some("bob@example.net"));
        assert_eq!(s.to[1].name.as_deref(), Some("Carol C."));
        assert_eq!(s.message_id.as_deref(), Some("1234@local.machine.example"));
        assert_eq!(s.in_reply_to, vec!["parent@example.org".to_string()]);
        assert_eq!(
            s.references,
            vec![
                "root@example.org".to_string(),
                "parent@example.org".to_string()
            ]
        );
        assert!(s.sender.is_empty() && s.reply_to.is_empty() && s.bcc.is_empty());
    }

    #[test]
    fn folded_and_encoded_headers_are_decoded() {
        let raw = b"Subject: =?UTF-8?B?w6l0w6k=?=\r\n and\r\n\tmore\r\n\
            From: =?ISO-8859-1?Q?Andr=E9?= Pirard <PIRARD@vm1.ulg.ac.be>\r\n\
            To: A Group:ed@example.org,\r\n  fred@example.org;\r\n\
            \r\n";
        let s = summarize(raw);
        assert_eq!(s.subject.as_deref(), Some("été and more"));
        assert_eq!(s.from[0].name.as_deref(), Some("André Pirard"));
        assert_eq!(s.from[0].address.as_deref(), Some("PIRARD@vm1.ulg.ac.be"));
        assert_eq!(s.to.len(), 2);
        assert_eq!(s.to[1].address.as_deref(), Some("fred@example.org"));
        assert_eq!(s.to[1].group.as_deref(), Some("A Group"));
        assert_eq!(s.header_len as usize, raw.len());
    }

    #[test]
    fn bare_lf_line_ends_are_accepted() {
        let raw = b"Subject: lf\nFrom: a@b.example\n\nbody\n";
        let s = summarize(raw);
        assert_eq!(s.subject.as_deref(), Some("lf"));
        assert_eq!(&raw[s.header_len as usize..], b"body\n");
    }

    #[test]
    fn message_without_headers() {
        let raw = b"\r\njust a body\r\n";
        let s = summarize(raw);
        assert_eq!(s.header_len, 2);
        assert_eq!(s.subject, None);
        assert!(s.from.is_empty());
        let s = summarize(b"");
        assert_eq!(s.subject, None);
        assert_eq!(s.mime.parts.len(), 1);
        assert_eq!(s.mime.parts[0].size(), 0);
    }

    #[test]
    fn message_without_body_is_all_header() {
        let raw = b"Subject: no body\r\nFrom: a@b.example\r\n";
        let s = summarize(raw);
        assert_eq!(s.header_len as usize, raw.len());
        assert_eq!(s.subject.as_deref(), Some("no body"));
    }

    #[test]
    fn garbage_does_not_panic() {
        let mut inputs: Vec<Vec<u8>> = vec![
            vec![0xff; 100],
            b"\0\0\0:\r\n\r\n".to_vec(),
            b"Date: yesterday\r\nFrom: <<<>>>@@@\r\nTo: ,,,;;;:\r\n\r\n".to_vec(),
            b"Subject: =?x?Q?=ZZ?=\r\nReferences: <<<\r\nIn-Reply-To: >\r\n".to_vec(),
            b":::\n\n\n".to_vec(),
        ];
        // A deterministic pseudo-random soup of header-ish bytes.
        let alphabet = b"ab:<>@\",;()=?\r\n \t\xc3\xa9\xff";
        let mut x: u32 = 12345;
        for _ in 0..200 {
            let mut v = Vec::new();
            for _ in 0..64 {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                v.push(alphabet[(x >> 16) as usize % alphabet.len()]);
            }
            inputs.push(v);
        }
        for raw in inputs {
            let s = summarize(&raw);
            assert!(s.header_len as usize <= raw.len());
            let json = serde_json::to_string(&s).expect("serialisable");
            let back: Summary = serde_json::from_str(&json).expect("deserialisable");
            assert_eq!(back, s);
        }
        let s = summarize(b"Date: yesterday\r\n\r\n");
        assert_eq!(s.date, None);
    }

    #[test]
    fn old_json_without_new_fields_still_loads() {
        let s: Summary = serde_json::from_str(r#"{"subject":"x"}"#).expect("defaults");
        assert_eq!(s.subject.as_deref(), Some("x"));
        assert_eq!(s.header_len, 0);
    }
}
