//! Response encoding: status lines with RFC 2449/3206 response codes,
//! SASL continuations, and dot-stuffed multi-line bodies (RFC 1939 §3).

/// RFC 2449 §4: a response line is at most 512 octets including CRLF.
pub const MAX_RESPONSE_LINE: usize = 512;

/// An extended response code (RFC 2449 §8, RFC 3206).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RespCode {
    /// RFC 3206 §4: the user's credentials are the problem.
    Auth,
    /// RFC 3206 §5: a temporary system problem; try again later.
    SysTemp,
    /// RFC 3206 §5: a permanent system problem.
    SysPerm,
    /// RFC 2449 §8.1.2: the maildrop is in use by another session.
    InUse,
    /// RFC 2449 §8.1.1: logging in again too soon.
    LoginDelay,
}

impl RespCode {
    pub fn as_str(self) -> &'static str {
        match self {
            RespCode::Auth => "AUTH",
            RespCode::SysTemp => "SYS/TEMP",
            RespCode::SysPerm => "SYS/PERM",
            RespCode::InUse => "IN-USE",
            RespCode::LoginDelay => "LOGIN-DELAY",
        }
    }
}

/// The status indicator of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    Err,
}

/// A single-line response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response<'a> {
    pub status: Status,
    pub code: Option<RespCode>,
    pub text: &'a str,
}

impl<'a> Response<'a> {
    pub fn ok(text: &'a str) -> Self {
        Response {
            status: Status::Ok,
            code: None,
            text,
        }
    }
    pub fn err(text: &'a str) -> Self {
        Response {
            status: Status::Err,
            code: None,
            text,
        }
    }
    pub fn err_code(code: RespCode, text: &'a str) -> Self {
        Response {
            status: Status::Err,
            code: Some(code),
            text,
        }
    }

    /// Appends `+OK [CODE] text\r\n` (or `-ERR ...`). CR, LF and other
    /// control characters in the text become spaces, and the line is cut
    /// to [`MAX_RESPONSE_LINE`] octets, so no text can forge extra lines.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(match self.status {
            Status::Ok => b"+OK",
            Status::Err => b"-ERR",
        });
        if let Some(code) = self.code {
            out.extend_from_slice(b" [");
            out.extend_from_slice(code.as_str().as_bytes());
            out.push(b']');
        }
        if !self.text.is_empty() {
            out.push(b' ');
            let budget = MAX_RESPONSE_LINE - 2 - (out.len() - start);
            let mut used = 0;
            for ch in self.text.chars() {
                let ch = if ch.is_control() { ' ' } else { ch };
                let n = ch.len_utf8();
                if used + n > budget {
                    break;
                }
                let mut b = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut b).as_bytes());
                used += n;
            }
        }
        out.extend_from_slice(b"\r\n");
    }
}

/// Appends a SASL continuation (RFC 5034 §4): `+ base64\r\n`; an empty
/// challenge is `+ \r\n`.
pub fn encode_continuation(b64: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(b"+ ");
    out.extend_from_slice(b64.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Appends one line of a multi-line response that the server composes
/// itself (CAPA, LIST, UIDL), with its CRLF. Such lines never start with a
/// dot, but are stuffed anyway.
pub fn encode_list_line(line: &str, out: &mut Vec<u8>) {
    if line.starts_with('.') {
        out.push(b'.');
    }
    out.extend_from_slice(line.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Appends the multi-line terminator `.\r\n`.
pub fn encode_terminator(out: &mut Vec<u8>) {
    out.extend_from_slice(b".\r\n");
}

/// Appends `data` as the body of a multi-line response, then the
/// terminator (RFC 1939 §3): every line starting with `.` gets one more
/// `.`, bare LF becomes CRLF, and a last line without an end of line gets
/// CRLF before the terminating `.\r\n`.
pub fn encode_multiline_body(data: &[u8], out: &mut Vec<u8>) {
    out.reserve(data.len() + data.len() / 64 + 5);
    let mut rest = data;
    while !rest.is_empty() {
        if rest[0] == b'.' {
            out.push(b'.');
        }
        match rest.iter().position(|&b| b == b'\n') {
            Some(i) => {
                let line = &rest[..i];
                out.extend_from_slice(line);
                if line.last() != Some(&b'\r') {
                    out.push(b'\r');
                }
                out.push(b'\n');
                rest = &rest[i + 1..];
            }
            None => {
                out.extend_from_slice(rest);
                out.extend_from_slice(b"\r\n");
                rest = &[];
            }
        }
    }
    encode_terminator(out);
}

/// The octet count [`encode_multiline_body`] sends for `data` before
/// dot-stuffing and without the terminator: the size LIST and STAT report
/// (RFC 1939 §5). Equals `data.len()` for CRLF-terminated CRLF data.
pub fn normalized_len(data: &[u8]) -> u64 {
    let mut n = data.len() as u64;
    let mut prev = None;
    for &b in data {
        if b == b'\n' && prev != Some(b'\r') {
            n += 1;
        }
        prev = Some(b);
    }
    if !data.is_empty() && data.last() != Some(&b'\n') {
        n += 2;
    }
    n
}

/// Reverses [`encode_multiline_body`] for a client: takes everything after
/// the status line, returns the body (CRLF line ends) and the number of
/// octets consumed including the terminator, or `None` if the terminator
/// has not arrived yet.
pub fn decode_multiline_body(input: &[u8]) -> Option<(Vec<u8>, usize)> {
    let mut body = Vec::with_capacity(input.len());
    let mut pos = 0;
    loop {
        let rest = &input[pos..];
        let i = rest.windows(2).position(|w| w == b"\r\n")?;
        let line = &rest[..i];
        pos += i + 2;
        if line == b"." {
            return Some((body, pos));
        }
        let line = line.strip_prefix(b".").unwrap_or(line);
        body.extend_from_slice(line);
        body.extend_from_slice(b"\r\n");
    }
}

/// RFC 1939 §7 TOP: the header, the blank line after it and at most
/// `lines` lines of the body. A message without a blank line is all
/// header and returned whole.
pub fn top_part(message: &[u8], lines: u32) -> &[u8] {
    let mut pos = 0;
    // Find the end of the header: the first empty line.
    let body_start = loop {
        if pos >= message.len() {
            return message;
        }
        let rest = &message[pos..];
        if rest.starts_with(b"\r\n") {
            break pos + 2;
        }
        if rest.starts_with(b"\n") {
            break pos + 1;
        }
        match rest.iter().position(|&b| b == b'\n') {
            Some(i) => pos += i + 1,
            None => return message,
        }
    };
    let mut end = body_start;
    for _ in 0..lines {
        if end >= message.len() {
            break;
        }
        match message[end..].iter().position(|&b| b == b'\n') {
            Some(i) => end += i + 1,
            None => end = message.len(),
        }
    }
    &message[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(r: Response<'_>) -> String {
        let mut v = Vec::new();
        r.encode(&mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn status_lines() {
        assert_eq!(enc(Response::ok("")), "+OK\r\n");
        assert_eq!(enc(Response::ok("2 320")), "+OK 2 320\r\n");
        assert_eq!(
            enc(Response::err_code(RespCode::InUse, "maildrop locked")),
            "-ERR [IN-USE] maildrop locked\r\n"
        );
        assert_eq!(
            enc(Response::err_code(RespCode::SysTemp, "")),
            "-ERR [SYS/TEMP]\r\n"
        );
        assert_eq!(enc(Response::err("a\r\n+OK b")), "-ERR a  +OK b\r\n");
        let long = "é".repeat(400);
        let line = enc(Response::err(&long));
        assert!(line.len() <= MAX_RESPONSE_LINE);
        assert!(line.ends_with("\r\n"));
    }

    #[test]
    fn dot_stuffing_and_line_ends() {
        let mut out = Vec::new();
        encode_multiline_body(b"a\r\n.b\n..c\r\n.\r\nlast", &mut out);
        assert_eq!(out, b"a\r\n..b\r\n...c\r\n..\r\nlast\r\n.\r\n");
        let mut out = Vec::new();
        encode_multiline_body(b"", &mut out);
        assert_eq!(out, b".\r\n");
        let mut out = Vec::new();
        encode_multiline_body(b"x\r\n", &mut out);
        assert_eq!(out, b"x\r\n.\r\n");
        assert_eq!(normalized_len(b"x\r\n"), 3);
        assert_eq!(normalized_len(b"x\ny"), 6);
        assert_eq!(normalized_len(b""), 0);
    }

    #[test]
    fn continuation() {
        let mut out = Vec::new();
        encode_continuation("", &mut out);
        assert_eq!(out, b"+ \r\n");
    }

    #[test]
    fn top() {
        let m = b"Subject: x\r\nFrom: y\r\n\r\nl1\r\nl2\r\nl3\r\n";
        assert_eq!(top_part(m, 0), b"Subject: x\r\nFrom: y\r\n\r\n");
        assert_eq!(top_part(m, 2), b"Subject: x\r\nFrom: y\r\n\r\nl1\r\nl2\r\n");
        assert_eq!(top_part(m, 10), m);
        assert_eq!(top_part(b"A: b\r\n", 3), b"A: b\r\n");
        assert_eq!(top_part(b"\r\nbody\r\n", 0), b"\r\n");
        assert_eq!(top_part(b"A: b\n\nx\ny\n", 1), b"A: b\n\nx\n");
        assert_eq!(top_part(b"A: b\r\n\r\nno-eol", 5), b"A: b\r\n\r\nno-eol");
    }
}
