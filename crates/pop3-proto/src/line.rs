//! Bounded line framing of client input.

/// RFC 2449 §4: a command line is at most 255 octets including CRLF.
pub const MAX_COMMAND_LINE: usize = 255;
/// AUTH command lines (with an initial response) and SASL response lines:
/// RFC 5034 §4 lets these exceed the command limit; we allow 8 KiB.
pub const MAX_AUTH_LINE: usize = 8192;

/// Which limit applies to the next line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineMode {
    /// A command: [`MAX_COMMAND_LINE`], or [`MAX_AUTH_LINE`] for a line
    /// starting with `AUTH `.
    Command,
    /// A response inside a SASL exchange: [`MAX_AUTH_LINE`].
    Sasl,
}

/// What [`LineReader::next`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineEvent<'a> {
    /// A complete line, without its CRLF (a bare LF is also accepted as the
    /// end of a line).
    Line(&'a [u8]),
    /// A line exceeded its limit. It is discarded up to and including its
    /// end, even when that end arrives in later input; answer with one
    /// error.
    TooLong,
}

/// Splits client input into bounded lines. Holds only a "discarding"
/// flag: memory use is bounded by the caller's buffer, which never needs to
/// hold more than one limit's worth of unconsumed input.
#[derive(Debug, Clone, Default)]
pub struct LineReader {
    discarding: bool,
}

fn limit_for(rest: &[u8], mode: LineMode) -> usize {
    match mode {
        LineMode::Sasl => MAX_AUTH_LINE,
        LineMode::Command => {
            if rest.len() >= 5 && rest[..5].eq_ignore_ascii_case(b"AUTH ") {
                MAX_AUTH_LINE
            } else {
                MAX_COMMAND_LINE
            }
        }
    }
}

impl LineReader {
    pub fn new() -> LineReader {
        LineReader::default()
    }

    /// Whether an overlong line is being skipped.
    pub fn is_discarding(&self) -> bool {
        self.discarding
    }

    /// Looks for the next line at the start of `input`. Returns how many
    /// octets of `input` were consumed (drop them from the buffer) and the
    /// event, if any. With `None`, more input is needed.
    pub fn next<'a>(&mut self, input: &'a [u8], mode: LineMode) -> (usize, Option<LineEvent<'a>>) {
        let mut pos = 0;
        if self.discarding {
            match find_lf(input) {
                Some(i) => {
                    self.discarding = false;
                    pos = i + 1;
                }
                None => return (input.len(), None),
            }
        }
        let rest = &input[pos..];
        let limit = limit_for(rest, mode);
        let window = &rest[..rest.len().min(limit)];
        if let Some(i) = find_lf(window) {
            let mut line = &rest[..i];
            if let [head @ .., b'\r'] = line {
                line = head;
            }
            return (pos + i + 1, Some(LineEvent::Line(line)));
        }
        if rest.len() < limit {
            return (pos, None);
        }
        // Over the limit without an end of line.
        match find_lf(rest) {
            Some(i) => (pos + i + 1, Some(LineEvent::TooLong)),
            None => {
                self.discarding = true;
                (input.len(), Some(LineEvent::TooLong))
            }
        }
    }
}

fn find_lf(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in chunks of `chunk` octets, as a session would with a
    /// growing buffer, and collects the events.
    fn run(input: &[u8], chunk: usize, mode: LineMode) -> Vec<Option<Vec<u8>>> {
        let mut r = LineReader::new();
        let mut buf = Vec::new();
        let mut out = Vec::new();
        for piece in input.chunks(chunk.max(1)) {
            buf.extend_from_slice(piece);
            loop {
                let (n, ev) = r.next(&buf, mode);
                let ev = ev.map(|e| match e {
                    LineEvent::Line(l) => Some(l.to_vec()),
                    LineEvent::TooLong => None,
                });
                buf.drain(..n);
                match ev {
                    Some(e) => out.push(e),
                    None => break,
                }
            }
            assert!(buf.len() <= MAX_AUTH_LINE);
        }
        out
    }

    #[test]
    fn splits_lines_any_chunking() {
        let input = b"USER a\r\nPASS b c\r\nSTAT\nQUIT\r\n";
        for chunk in 1..input.len() {
            assert_eq!(
                run(input, chunk, LineMode::Command),
                vec![
                    Some(b"USER a".to_vec()),
                    Some(b"PASS b c".to_vec()),
                    Some(b"STAT".to_vec()),
                    Some(b"QUIT".to_vec())
                ],
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn exactly_at_the_limit() {
        let ok = [vec![b'A'; MAX_COMMAND_LINE - 2], b"\r\n".to_vec()].concat();
        assert_eq!(run(&ok, 7, LineMode::Command), vec![Some(vec![b'A'; 253])]);
        let over = [vec![b'A'; MAX_COMMAND_LINE - 1], b"\r\n".to_vec()].concat();
        assert_eq!(run(&over, 7, LineMode::Command), vec![None]);
    }

    #[test]
    fn overlong_is_discarded_up_to_crlf() {
        for chunk in [1, 3, 100, 300, 10_000] {
            let input = [
                vec![b'X'; 1000],
                b"\r\nNOOP\r\n".to_vec(),
                vec![b'Y'; 20_000],
                b"\r\nQUIT\r\n".to_vec(),
            ]
            .concat();
            assert_eq!(
                run(&input, chunk, LineMode::Command),
                vec![None, Some(b"NOOP".to_vec()), None, Some(b"QUIT".to_vec())],
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn auth_lines_get_the_larger_limit() {
        let auth = [b"AUTH PLAIN ".to_vec(), vec![b'A'; 1000], b"\r\n".to_vec()].concat();
        assert_eq!(run(&auth, 13, LineMode::Command).len(), 1);
        assert!(run(&auth, 13, LineMode::Command)[0].is_some());
        let sasl = [vec![b'A'; 5000], b"\r\n".to_vec()].concat();
        assert!(run(&sasl, 64, LineMode::Sasl)[0].is_some());
        assert_eq!(run(&sasl, 64, LineMode::Command), vec![None]);
        let huge = [vec![b'A'; MAX_AUTH_LINE], b"\r\n".to_vec()].concat();
        assert_eq!(run(&huge, 512, LineMode::Sasl), vec![None]);
    }
}
