//! IMAP ENVELOPE data (RFC 9051 §7.5.2), computed once from a message's
//! (or an attached message's) header section.
//!
//! Every value is the *raw* header text: unfolded (the CRLF of each fold
//! removed) and trimmed, but otherwise as written — encoded words
//! (RFC 2047) are not decoded, because IMAP clients expect ENVELOPE strings
//! exactly as in the header. The first occurrence of each field is used.

use serde::{Deserialize, Serialize};

use crate::address::parse_address_list;
use crate::header::{fields, unfold};

/// One `address` of an ENVELOPE (RFC 9051 §7.5.2), raw octets.
///
/// Group syntax is represented the RFC 9051 way: a start marker with
/// `host == None` and the group name in `mailbox`, then the members, then
/// an end marker with every field `None`. A real mailbox always has both
/// `mailbox` and `host`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct EnvelopeAddress {
    /// `addr-name`: the display name (or, lacking one, a trailing comment).
    #[serde(
        rename = "n",
        with = "crate::raw_bytes::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<Vec<u8>>,
    /// `addr-adl`: the obsolete source route (`@a,@b`).
    #[serde(
        rename = "r",
        with = "crate::raw_bytes::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub adl: Option<Vec<u8>>,
    /// `addr-mailbox`: the local part as written, or the group name.
    #[serde(
        rename = "m",
        with = "crate::raw_bytes::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub mailbox: Option<Vec<u8>>,
    /// `addr-host`: the domain as written; `None` only in group markers.
    #[serde(
        rename = "h",
        with = "crate::raw_bytes::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub host: Option<Vec<u8>>,
}

/// ENVELOPE fields as found in a header section (raw octets).
///
/// `sender` and `reply_to` hold what the header says (empty when absent);
/// the RFC 9051 rule "absent or empty Sender / Reply-To default to From"
/// is applied when writing the wire form
/// ([`crate::imap_wire::write_envelope`]), so the stored data stays
/// faithful.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct Envelope {
    #[serde(
        rename = "d",
        with = "crate::raw_bytes::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub date: Option<Vec<u8>>,
    #[serde(
        rename = "s",
        with = "crate::raw_bytes::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub subject: Option<Vec<u8>>,
    #[serde(rename = "f", skip_serializing_if = "Vec::is_empty")]
    pub from: Vec<EnvelopeAddress>,
    #[serde(rename = "se", skip_serializing_if = "Vec::is_empty")]
    pub sender: Vec<EnvelopeAddress>,
    #[serde(rename = "rt", skip_serializing_if = "Vec::is_empty")]
    pub reply_to: Vec<EnvelopeAddress>,
    #[serde(rename = "t", skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<EnvelopeAddress>,
    #[serde(rename = "c", skip_serializing_if = "Vec::is_empty")]
    pub cc: Vec<EnvelopeAddress>,
    #[serde(rename = "b", skip_serializing_if = "Vec::is_empty")]
    pub bcc: Vec<EnvelopeAddress>,
    #[serde(
        rename = "i",
        with = "crate::raw_bytes::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub in_reply_to: Option<Vec<u8>>,
    #[serde(
        rename = "m",
        with = "crate::raw_bytes::opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub message_id: Option<Vec<u8>>,
}

impl Envelope {
    /// Extracts the ENVELOPE fields from a raw header section (bytes after
    /// its empty line are ignored). Linear in the header size; never
    /// panics.
    pub fn parse(header: &[u8]) -> Envelope {
        let mut env = Envelope::default();
        // Which address fields were seen (the first occurrence wins, even
        // when it holds no address).
        let mut seen = [false; 6];
        for field in fields(header) {
            let name = field.name.to_ascii_lowercase();
            let text = |slot: &mut Option<Vec<u8>>| {
                if slot.is_none() {
                    *slot = Some(unfold(field.value));
                }
            };
            let (slot, list) = match name.as_slice() {
                b"date" => {
                    text(&mut env.date);
                    continue;
                }
                b"subject" => {
                    text(&mut env.subject);
                    continue;
                }
                b"in-reply-to" => {
                    text(&mut env.in_reply_to);
                    continue;
                }
                b"message-id" => {
                    text(&mut env.message_id);
                    continue;
                }
                b"from" => (0, &mut env.from),
                b"sender" => (1, &mut env.sender),
                b"reply-to" => (2, &mut env.reply_to),
                b"to" => (3, &mut env.to),
                b"cc" => (4, &mut env.cc),
                b"bcc" => (5, &mut env.bcc),
                _ => continue,
            };
            if !seen[slot] {
                seen[slot] = true;
                *list = parse_address_list(&unfold(field.value));
            }
        }
        env
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_values_first_occurrence() {
        let h = b"Subject: =?UTF-8?B?w6l0w6k=?=\r\n  folded\r\nSubject: second\r\n\
            Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\r\nMessage-ID: <a@b>\r\n\
            In-Reply-To: <x@y> <z@w>\r\nTo: a@b.test\r\nTo: c@d.test\r\n\r\nTo: body@x\r\n";
        let e = Envelope::parse(h);
        assert_eq!(
            e.subject.as_deref(),
            Some(&b"=?UTF-8?B?w6l0w6k=?=  folded"[..])
        );
        assert_eq!(
            e.date.as_deref(),
            Some(&b"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)"[..])
        );
        assert_eq!(e.message_id.as_deref(), Some(&b"<a@b>"[..]));
        assert_eq!(e.in_reply_to.as_deref(), Some(&b"<x@y> <z@w>"[..]));
        assert_eq!(e.to.len(), 1);
        assert_eq!(e.to[0].host.as_deref(), Some(&b"b.test"[..]));
        assert!(e.sender.is_empty() && e.from.is_empty());
    }

    #[test]
    fn present_but_empty_fields() {
        let e = Envelope::parse(b"Subject:\r\nSender: \r\n\r\n");
        assert_eq!(e.subject.as_deref(), Some(&b""[..]));
        assert!(e.sender.is_empty());
        assert_eq!(e.date, None);
    }
}
