//! RFC 3461 DSN parameters of `MAIL FROM` (`RET`, `ENVID`) and `RCPT TO`
//! (`NOTIFY`, `ORCPT`), read from the raw command line.
//!
//! smtp-proto parses these parameters loosely (duplicates are merged,
//! malformed xtext is dropped silently, `ORCPT` only takes `rfc822`), so
//! they are taken out of the line here, checked strictly, and the rest of
//! the line goes to smtp-proto as before. Any other parameter is left in
//! place, so unknown ones are still refused (`555`) by the session.
//!
//! Values are stored decoded: `ENVID` as text, `ORCPT` as
//! `addr-type;address` (the form of RFC 3464's `Original-Recipient`),
//! `NOTIFY` as a canonical list (`SUCCESS,FAILURE,DELAY` order, or
//! `NEVER`), `RET` as `FULL` or `HDRS`. `pillarbox_queue::dsn::xtext_encode`
//! gives them back their wire form when the queue passes them on.

use pillarbox_delivery::{DeliveryError, EnvelopeRecipient};
use pillarbox_queue::Delivered;
use pillarbox_store::DsnEnvelope;

use crate::reply::{self, Reply};

/// RFC 3461 §4.4: "The ENVID ... MUST NOT exceed 100 characters".
const MAX_ENVID: usize = 100;
/// RFC 3461 §4.2: "The entire ORCPT parameter MAY be up to 500 characters".
const MAX_ORCPT: usize = 500;

/// The DSN parameters of one `RCPT TO`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RcptDsn {
    pub(crate) notify: Option<String>,
    pub(crate) orcpt: Option<String>,
}

impl RcptDsn {
    /// Whether `NOTIFY` asks for a success notice (RFC 3461 §4.1).
    pub(crate) fn wants_success(&self) -> bool {
        self.notify
            .as_deref()
            .is_some_and(|n| n.split(',').any(|w| w == "SUCCESS"))
    }
}

/// What was taken out of a command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Extracted {
    /// Not MAIL or RCPT, or no DSN parameter in it.
    Nothing,
    Mail(DsnEnvelope),
    Rcpt(RcptDsn),
}

impl Extracted {
    /// Whether any DSN parameter was given.
    pub(crate) fn any(&self) -> bool {
        match self {
            Extracted::Nothing => false,
            Extracted::Mail(d) => d.ret.is_some() || d.envid.is_some(),
            Extracted::Rcpt(d) => d.notify.is_some() || d.orcpt.is_some(),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Verb {
    Mail,
    Rcpt,
}

fn verb(line: &[u8]) -> Option<(Verb, usize)> {
    let head: Vec<u8> = line.iter().take(10).map(u8::to_ascii_uppercase).collect();
    if head.starts_with(b"MAIL FROM:") {
        Some((Verb::Mail, 10))
    } else if head.starts_with(b"RCPT TO:") {
        Some((Verb::Rcpt, 8))
    } else {
        None
    }
}

/// Where the path (`<...>`, quoted strings respected) ends, from `from`.
fn path_end(line: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while line.get(i) == Some(&b' ') {
        i += 1;
    }
    if line.get(i) != Some(&b'<') {
        return None;
    }
    let mut quoted = false;
    while let Some(&b) = line.get(i) {
        match b {
            b'\\' if quoted => i += 1,
            b'"' => quoted = !quoted,
            b'>' if !quoted => return Some(i + 1),
            b'\r' | b'\n' => return None,
            _ => {}
        }
        i += 1;
    }
    None
}

/// RFC 3461 §4: xtext = *( xchar / hexchar ); xchar is `!`..`~` except
/// `+` and `=`; hexchar is `+` and two upper-case hex digits. The decoded
/// value must be printable US-ASCII (graphic characters and space).
pub(crate) fn xtext_decode(value: &[u8]) -> Option<String> {
    let mut out = String::with_capacity(value.len());
    let mut i = 0;
    while i < value.len() {
        let b = value[i];
        let decoded = match b {
            b'+' => {
                let hex = |c: u8| match c {
                    b'0'..=b'9' => Some(c - b'0'),
                    b'A'..=b'F' => Some(c - b'A' + 10),
                    _ => None,
                };
                let hi = hex(*value.get(i + 1)?)?;
                let lo = hex(*value.get(i + 2)?)?;
                i += 2;
                (hi << 4) | lo
            }
            b'=' => return None,
            33..=126 => b,
            _ => return None,
        };
        if !(decoded == b' ' || decoded.is_ascii_graphic()) {
            return None;
        }
        out.push(char::from(decoded));
        i += 1;
    }
    Some(out)
}

/// RFC 3461 §4.1: `NEVER`, or a list of `SUCCESS`, `FAILURE`, `DELAY`.
fn notify(value: &str) -> Option<String> {
    let mut never = false;
    let mut words = [false; 3];
    for word in value.split(',') {
        match word.to_ascii_uppercase().as_str() {
            "NEVER" => never = true,
            "SUCCESS" => words[0] = true,
            "FAILURE" => words[1] = true,
            "DELAY" => words[2] = true,
            _ => return None,
        }
    }
    if never {
        // "NEVER" must not be combined with the others.
        return (value.split(',').count() == 1).then(|| "NEVER".to_string());
    }
    let names = ["SUCCESS", "FAILURE", "DELAY"];
    Some(
        names
            .iter()
            .zip(words)
            .filter(|(_, on)| *on)
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(","),
    )
}

/// RFC 3461 §4.2: `addr-type ";" xtext`, addr-type an atom.
fn orcpt(value: &[u8]) -> Option<String> {
    if value.len() > MAX_ORCPT {
        return None;
    }
    let semi = value.iter().position(|&b| b == b';')?;
    let (kind, address) = (&value[..semi], &value[semi + 1..]);
    // RFC 5322 atext.
    let atext = |b: &u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(b);
    if kind.is_empty() || !kind.iter().all(atext) || address.is_empty() {
        return None;
    }
    let address = xtext_decode(address)?;
    Some(format!("{};{address}", String::from_utf8_lossy(kind)))
}

/// Takes the DSN parameters out of a MAIL or RCPT line. Returns the line
/// smtp-proto should parse (`None`: unchanged) and what was found, or the
/// reply for a malformed or repeated parameter (`501 5.5.4`, RFC 3461 §4:
/// each parameter at most once per command).
pub(crate) fn extract(line: &[u8]) -> Result<(Option<Vec<u8>>, Extracted), Reply> {
    let Some((verb, colon)) = verb(line) else {
        return Ok((None, Extracted::Nothing));
    };
    // A line smtp-proto will refuse anyway is left to it.
    let Some(end) = path_end(line, colon) else {
        return Ok((None, Extracted::Nothing));
    };
    let body = &line[end..];
    let trimmed = body
        .strip_suffix(b"\n")
        .map(|b| b.strip_suffix(b"\r").unwrap_or(b))
        .unwrap_or(body);
    let mut kept: Vec<&[u8]> = Vec::new();
    let mut mail = DsnEnvelope::default();
    let mut rcpt = RcptDsn::default();
    let mut found = false;
    for param in trimmed.split(|&b| b == b' ').filter(|p| !p.is_empty()) {
        let (key, value) = match param.iter().position(|&b| b == b'=') {
            Some(eq) => (&param[..eq], Some(&param[eq + 1..])),
            None => (param, None),
        };
        let key = key.to_ascii_uppercase();
        let value_text = value.map(|v| String::from_utf8_lossy(v).into_owned());
        match (verb, key.as_slice()) {
            (Verb::Mail, b"RET") => {
                if mail.ret.is_some() {
                    return Err(reply::C501_DSN_DUPLICATE);
                }
                let ret = value_text.map(|v| v.to_ascii_uppercase());
                match ret.as_deref() {
                    Some("FULL" | "HDRS") => mail.ret = ret,
                    _ => return Err(reply::C501_DSN_RET),
                }
            }
            (Verb::Mail, b"ENVID") => {
                if mail.envid.is_some() {
                    return Err(reply::C501_DSN_DUPLICATE);
                }
                let envid = value
                    .filter(|v| !v.is_empty() && v.len() <= MAX_ENVID)
                    .and_then(xtext_decode)
                    .ok_or(reply::C501_DSN_ENVID)?;
                mail.envid = Some(envid);
            }
            (Verb::Rcpt, b"NOTIFY") => {
                if rcpt.notify.is_some() {
                    return Err(reply::C501_DSN_DUPLICATE);
                }
                let list = value_text
                    .as_deref()
                    .and_then(notify)
                    .ok_or(reply::C501_DSN_NOTIFY)?;
                rcpt.notify = Some(list);
            }
            (Verb::Rcpt, b"ORCPT") => {
                if rcpt.orcpt.is_some() {
                    return Err(reply::C501_DSN_DUPLICATE);
                }
                rcpt.orcpt = Some(value.and_then(orcpt).ok_or(reply::C501_DSN_ORCPT)?);
            }
            _ => {
                kept.push(param);
                continue;
            }
        }
        found = true;
    }
    if !found {
        return Ok((None, Extracted::Nothing));
    }
    let mut rest = line[..end].to_vec();
    for param in kept {
        rest.push(b' ');
        rest.extend_from_slice(param);
    }
    rest.extend_from_slice(b"\r\n");
    let extracted = match verb {
        Verb::Mail => Extracted::Mail(mail),
        Verb::Rcpt => Extracted::Rcpt(rcpt),
    };
    Ok((Some(rest), extracted))
}

/// RFC 3461 §5.2.3: the recipients delivered locally that asked for a
/// success notice (`recipients`, `results` and `dsn` are aligned).
pub(crate) fn delivered(
    recipients: &[EnvelopeRecipient],
    results: &[Result<(), DeliveryError>],
    dsn: &[RcptDsn],
) -> Vec<Delivered> {
    recipients
        .iter()
        .zip(results)
        .zip(dsn)
        .filter(|((_, result), dsn)| result.is_ok() && dsn.wants_success())
        .map(|((recipient, _), dsn)| Delivered {
            address: recipient.address.clone(),
            orcpt: dsn.orcpt.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use pillarbox_queue::dsn::xtext_encode;

    use super::*;

    fn ok(line: &str) -> (String, Extracted) {
        let (rest, found) = extract(line.as_bytes()).expect("accepted");
        let rest = rest.map_or_else(|| line.to_string(), |r| String::from_utf8(r).expect("utf8"));
        (rest, found)
    }

    fn err(line: &str) -> Reply {
        extract(line.as_bytes()).expect_err("refused")
    }

    #[test]
    fn mail_parameters_are_taken_out() {
        let (rest, found) = ok("MAIL FROM:<a@b.example> RET=hdrs SIZE=10 ENVID=QQ+2B314159\r\n");
        assert_eq!(rest, "MAIL FROM:<a@b.example> SIZE=10\r\n");
        assert_eq!(
            found,
            Extracted::Mail(DsnEnvelope {
                ret: Some("HDRS".into()),
                envid: Some("QQ+314159".into()),
            })
        );
        let (rest, found) = ok("mail from:<> BODY=8BITMIME\r\n");
        assert_eq!(rest, "mail from:<> BODY=8BITMIME\r\n");
        assert_eq!(found, Extracted::Nothing);
    }

    #[test]
    fn rcpt_parameters_are_taken_out() {
        let (rest, found) =
            ok("RCPT TO:<\"odd >\"@b.example> NOTIFY=delay,Success ORCPT=rfc822;Bob+40x\r\n");
        assert_eq!(rest, "RCPT TO:<\"odd >\"@b.example>\r\n");
        assert_eq!(
            found,
            Extracted::Rcpt(RcptDsn {
                notify: Some("SUCCESS,DELAY".into()),
                orcpt: Some("rfc822;Bob@x".into()),
            })
        );
        let (_, found) = ok("RCPT TO:<b@c> ORCPT=utf-8;b@c NOTIFY=NEVER\n");
        assert_eq!(
            found,
            Extracted::Rcpt(RcptDsn {
                notify: Some("NEVER".into()),
                orcpt: Some("utf-8;b@c".into()),
            })
        );
        // A parameter of the other command stays for smtp-proto (555).
        let (rest, found) = ok("RCPT TO:<b@c> RET=FULL\r\n");
        assert_eq!(rest, "RCPT TO:<b@c> RET=FULL\r\n");
        assert_eq!(found, Extracted::Nothing);
    }

    #[test]
    fn malformed_and_repeated_parameters_get_501() {
        for (line, expected) in [
            ("MAIL FROM:<> RET=ALL\r\n", reply::C501_DSN_RET),
            ("MAIL FROM:<> RET\r\n", reply::C501_DSN_RET),
            (
                "MAIL FROM:<> RET=FULL RET=HDRS\r\n",
                reply::C501_DSN_DUPLICATE,
            ),
            ("MAIL FROM:<> ENVID=\r\n", reply::C501_DSN_ENVID),
            ("MAIL FROM:<> ENVID=a+2\r\n", reply::C501_DSN_ENVID),
            ("MAIL FROM:<> ENVID=a+2b\r\n", reply::C501_DSN_ENVID),
            ("MAIL FROM:<> ENVID=a+0A\r\n", reply::C501_DSN_ENVID),
            ("MAIL FROM:<> ENVID=a=b\r\n", reply::C501_DSN_ENVID),
            (
                "MAIL FROM:<> ENVID=x ENVID=y\r\n",
                reply::C501_DSN_DUPLICATE,
            ),
            (
                "RCPT TO:<a@b> NOTIFY=NEVER,DELAY\r\n",
                reply::C501_DSN_NOTIFY,
            ),
            ("RCPT TO:<a@b> NOTIFY=SOMETIMES\r\n", reply::C501_DSN_NOTIFY),
            ("RCPT TO:<a@b> NOTIFY=\r\n", reply::C501_DSN_NOTIFY),
            ("RCPT TO:<a@b> NOTIFY=FAILURE,\r\n", reply::C501_DSN_NOTIFY),
            (
                "RCPT TO:<a@b> NOTIFY=DELAY NOTIFY=FAILURE\r\n",
                reply::C501_DSN_DUPLICATE,
            ),
            ("RCPT TO:<a@b> ORCPT=a@b\r\n", reply::C501_DSN_ORCPT),
            ("RCPT TO:<a@b> ORCPT=;a@b\r\n", reply::C501_DSN_ORCPT),
            ("RCPT TO:<a@b> ORCPT=rfc822;\r\n", reply::C501_DSN_ORCPT),
            (
                "RCPT TO:<a@b> ORCPT=rfc822;a ORCPT=rfc822;a\r\n",
                reply::C501_DSN_DUPLICATE,
            ),
        ] {
            assert_eq!(err(line), expected, "{line:?}");
        }
    }

    #[test]
    fn length_limits() {
        let envid = "e".repeat(100);
        assert!(extract(format!("MAIL FROM:<> ENVID={envid}\r\n").as_bytes()).is_ok());
        assert_eq!(
            err(&format!("MAIL FROM:<> ENVID={envid}e\r\n")),
            reply::C501_DSN_ENVID
        );
        let orcpt = format!("rfc822;{}", "o".repeat(493));
        assert_eq!(orcpt.len(), 500);
        assert!(extract(format!("RCPT TO:<a@b> ORCPT={orcpt}\r\n").as_bytes()).is_ok());
        assert_eq!(
            err(&format!("RCPT TO:<a@b> ORCPT={orcpt}o\r\n")),
            reply::C501_DSN_ORCPT
        );
    }

    #[test]
    fn xtext_round_trips() {
        for text in ["plain", "a+b=c", "with space", "~!\"#"] {
            let encoded = xtext_encode(text);
            assert_eq!(xtext_decode(encoded.as_bytes()).as_deref(), Some(text));
        }
        assert_eq!(xtext_encode("a+b=c d"), "a+2Bb+3Dc+20d");
    }
}
