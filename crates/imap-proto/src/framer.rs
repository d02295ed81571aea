//! The streaming command parser: bytes in, [`Event`]s out.
//!
//! A command is a line, possibly interrupted by literals (RFC 9051 §4.3):
//! `{n}` synchronizing (the client waits for `+`), `{n+}` non-synchronizing
//! (RFC 7888 LITERAL+; with LITERAL- at most 4096 octets), `~{n}` literal8
//! (RFC 3516, APPEND only). Small literals (names, search strings) are
//! buffered up to [`ParserConfig::max_literal`]; APPEND message literals are
//! passed through as [`Event::AppendData`] chunks and never buffered.
//!
//! Every limit is checked before memory is used, and every error leaves the
//! parser at the start of the next command: the rest of the bad command is
//! dropped, skipping (not storing) announced non-synchronizing literals.

use bytes::{Bytes, BytesMut};

use crate::append::{
    AppendMessage, AppendPrefix, MessageOpts, append_next, append_start, is_append,
};
use crate::command::Command;
use crate::cursor::{Cursor, Options};
use crate::error::{CommandError, ParseError};
use crate::mailbox::Mailbox;
use crate::parse::{decode_base64, parse_command};
use crate::types::Tag;

/// RFC 7888 §4: LITERAL- allows non-synchronizing literals up to this size.
pub const LITERAL_MINUS_MAX: u64 = 4096;

/// Bounds and negotiated options of one connection.
#[derive(Debug, Clone)]
pub struct ParserConfig {
    /// Octets of one command excluding literal data, CRLFs included.
    pub max_line: usize,
    /// One buffered (non-APPEND) literal.
    pub max_literal: u64,
    /// Everything buffered for one command (lines + small literals).
    pub max_command: usize,
    /// One APPEND message (APPENDLIMIT, RFC 7889).
    pub max_append: u64,
    /// Nested parentheses, NOT/OR operands, section part depth.
    pub max_depth: usize,
    /// `true`: LITERAL+ (any non-synchronizing literal); `false`:
    /// LITERAL- (non-synchronizing literals up to 4096 octets).
    pub literal_plus: bool,
    /// UTF8=ACCEPT enabled (RFC 6855): UTF-8 in quoted strings and raw
    /// UTF-8 mailbox names instead of modified UTF-7.
    pub utf8: bool,
}

impl Default for ParserConfig {
    fn default() -> Self {
        ParserConfig {
            max_line: 64 * 1024,
            max_literal: 64 * 1024,
            max_command: 1024 * 1024,
            max_append: 64 * 1024 * 1024,
            max_depth: 32,
            literal_plus: true,
            utf8: false,
        }
    }
}

/// A synchronizing literal the client is waiting to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiteralRequest {
    pub tag: Tag,
    pub size: u64,
}

/// What the parser recognised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A complete command.
    Command(Command),
    /// A synchronizing literal (not APPEND data) was announced. Call
    /// [`CommandParser::accept_literal`] and send `+ ...`, or
    /// [`CommandParser::reject_literal`] and send a tagged `NO`/`BAD`.
    LiteralRequest(LiteralRequest),
    /// An APPEND message starts; exactly `size` octets of
    /// [`Event::AppendData`] follow. If `sync`, accept or reject first as
    /// for [`Event::LiteralRequest`].
    AppendMessage(AppendMessage),
    /// A chunk of the current APPEND message.
    AppendData(Bytes),
    /// The APPEND command ended after its last message.
    AppendDone { tag: Tag },
    /// `DONE` ended IDLE (after [`CommandParser::expect_idle_done`]).
    IdleDone,
    /// A decoded AUTHENTICATE response line (after
    /// [`CommandParser::expect_auth_response`]); empty for an empty line.
    AuthenticateData(Vec<u8>),
    /// `*`: the client cancelled AUTHENTICATE.
    AuthenticateCancel,
}

impl Event {
    /// True if the parser now waits for accept/reject of a literal.
    pub fn awaits_continuation(&self) -> bool {
        match self {
            Event::LiteralRequest(_) => true,
            Event::AppendMessage(m) => m.sync,
            _ => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineMode {
    Command,
    IdleDone,
    AuthResponse,
}

#[derive(Debug)]
enum State {
    Line,
    Literal {
        remaining: u64,
    },
    PendingLiteral {
        size: u64,
    },
    PendingAppend {
        size: u64,
    },
    AppendData {
        remaining: u64,
    },
    /// Error recovery: skip `skip` literal octets, then drop the line;
    /// `tail` keeps its last octets to spot a `{n+}` continuation.
    Discard {
        skip: u64,
        tail: Vec<u8>,
    },
}

#[derive(Debug)]
struct AppendCtx {
    tag: Tag,
    mailbox: Mailbox,
    index: usize,
    close_paren: bool,
}

const TAIL: usize = 32;

/// The sans-IO IMAP command parser of one connection.
#[derive(Debug)]
pub struct CommandParser {
    cfg: ParserConfig,
    state: State,
    mode: LineMode,
    buf: BytesMut,
    seg_start: usize,
    line_bytes: usize,
    append: Option<AppendCtx>,
}

impl Default for CommandParser {
    fn default() -> Self {
        CommandParser::new(ParserConfig::default())
    }
}

impl CommandParser {
    pub fn new(cfg: ParserConfig) -> Self {
        CommandParser {
            cfg,
            state: State::Line,
            mode: LineMode::Command,
            buf: BytesMut::new(),
            seg_start: 0,
            line_bytes: 0,
            append: None,
        }
    }

    pub fn config(&self) -> &ParserConfig {
        &self.cfg
    }

    /// Switch UTF-8 mode on after `ENABLE UTF8=ACCEPT` (RFC 6855 §3 /
    /// RFC 9755) or `ENABLE IMAP4rev2` (RFC 9051 uses UTF-8 mailbox names,
    /// not modified UTF-7): quoted strings may then carry UTF-8 and mailbox
    /// names are raw UTF-8.
    pub fn set_utf8(&mut self, on: bool) {
        self.cfg.utf8 = on;
    }

    /// Read the next line as the end of IDLE ([`Event::IdleDone`]).
    pub fn expect_idle_done(&mut self) {
        self.mode = LineMode::IdleDone;
    }

    /// Read the next line as an AUTHENTICATE response.
    pub fn expect_auth_response(&mut self) {
        self.mode = LineMode::AuthResponse;
    }

    /// True while a command is partly received: some of its line or of a
    /// literal it announced has arrived, but not all (the server's
    /// slowloris defence times such a command).
    pub fn in_command(&self) -> bool {
        !self.buf.is_empty() || self.append.is_some() || !matches!(self.state, State::Line)
    }

    /// True while an accept/reject decision is pending.
    pub fn awaiting_continuation(&self) -> bool {
        matches!(
            self.state,
            State::PendingLiteral { .. } | State::PendingAppend { .. }
        )
    }

    /// Let the client send the announced literal (send `+ ...` now).
    pub fn accept_literal(&mut self) {
        self.state = match self.state {
            State::PendingLiteral { size } => State::Literal { remaining: size },
            State::PendingAppend { size } => State::AppendData { remaining: size },
            _ => return,
        };
    }

    /// Refuse the announced literal (send a tagged `NO`/`BAD` now): the
    /// client will not send it, so the whole command is dropped.
    pub fn reject_literal(&mut self) {
        if self.awaiting_continuation() {
            self.reset();
        }
    }

    fn reset(&mut self) {
        // Released, not cleared: a session waiting for its next command
        // (thousands of them in IDLE) holds no buffer for the last one.
        self.buf = BytesMut::new();
        self.seg_start = 0;
        self.line_bytes = 0;
        self.append = None;
        self.state = State::Line;
    }

    fn opts(&self) -> Options {
        Options {
            utf8: self.cfg.utf8,
            max_depth: self.cfg.max_depth,
        }
    }

    /// Consume octets from `input` and return the next event, or `None`
    /// when more input is needed (or an accept/reject is pending). Call
    /// again until it returns `Ok(None)`: unconsumed input stays in `input`.
    pub fn feed(&mut self, input: &mut BytesMut) -> Result<Option<Event>, CommandError> {
        loop {
            match &mut self.state {
                State::PendingLiteral { .. } | State::PendingAppend { .. } => return Ok(None),
                State::Literal { remaining } => {
                    if *remaining == 0 {
                        self.state = State::Line;
                        self.seg_start = self.buf.len();
                        continue;
                    }
                    if input.is_empty() {
                        return Ok(None);
                    }
                    let n = take_len(*remaining, input.len());
                    *remaining -= n as u64;
                    self.buf.extend_from_slice(&input.split_to(n));
                }
                State::AppendData { remaining } => {
                    if *remaining == 0 {
                        self.state = State::Line;
                        continue;
                    }
                    if input.is_empty() {
                        return Ok(None);
                    }
                    let n = take_len(*remaining, input.len());
                    *remaining -= n as u64;
                    if *remaining == 0 {
                        self.state = State::Line;
                    }
                    return Ok(Some(Event::AppendData(input.split_to(n).freeze())));
                }
                State::Discard { skip, tail } => {
                    if input.is_empty() {
                        return Ok(None);
                    }
                    if *skip > 0 {
                        let n = take_len(*skip, input.len());
                        *skip -= n as u64;
                        let _ = input.split_to(n);
                        continue;
                    }
                    let lf = input.iter().position(|&b| b == b'\n');
                    let n = lf.map_or(input.len(), |i| i + 1);
                    push_tail(tail, &input.split_to(n));
                    if lf.is_some() {
                        match literal_marker(trim_eol(tail)) {
                            Some(m) if !m.sync => {
                                *skip = m.size;
                                tail.clear();
                            }
                            _ => self.reset(),
                        }
                    }
                }
                State::Line => {
                    if input.is_empty() {
                        return Ok(None);
                    }
                    let lf = input.iter().position(|&b| b == b'\n');
                    let n = lf.map_or(input.len(), |i| i + 1);
                    if self.line_bytes + n > self.cfg.max_line {
                        return Err(self.line_too_long(input));
                    }
                    self.line_bytes += n;
                    self.buf.extend_from_slice(&input.split_to(n));
                    if lf.is_some()
                        && let Some(ev) = self.segment_end()?
                    {
                        return Ok(Some(ev));
                    }
                }
            }
        }
    }

    fn line_too_long(&mut self, input: &BytesMut) -> CommandError {
        let tag = match &self.append {
            Some(ctx) => Some(ctx.tag.clone()),
            None if self.mode != LineMode::Command => None,
            None => {
                let mut head = self.buf.to_vec();
                let want = self.cfg.max_line.saturating_sub(head.len());
                head.extend_from_slice(&input[..want.min(input.len())]);
                head.truncate(self.cfg.max_line);
                leading_tag(&head)
            }
        };
        let mut tail = Vec::new();
        push_tail(&mut tail, &self.buf[self.seg_start..]);
        self.reset();
        self.state = State::Discard { skip: 0, tail };
        CommandError::new(tag, ParseError::LineTooLong)
    }

    /// Drop the rest of a command after an error raised at a literal
    /// header.
    fn fail_at_literal(&mut self, tag: Option<Tag>, marker: Marker, e: ParseError) -> CommandError {
        self.reset();
        if !marker.sync {
            self.state = State::Discard {
                skip: marker.size,
                tail: Vec::new(),
            };
        }
        CommandError::new(tag, e)
    }

    /// A line segment (ending in LF) is in `buf[seg_start..]`.
    fn segment_end(&mut self) -> Result<Option<Event>, CommandError> {
        // Accept a bare LF as line end; store it as CRLF.
        let len = self.buf.len();
        if len - self.seg_start < 2 || self.buf[len - 2] != b'\r' {
            self.buf.truncate(len - 1);
            self.buf.extend_from_slice(b"\r\n");
        }
        let end = self.buf.len() - 2;
        if self.mode != LineMode::Command {
            return self.raw_line(end).map(Some);
        }
        if self.append.is_none() && end == 0 {
            // Empty line between commands: ignored.
            self.reset();
            return Ok(None);
        }
        let marker = literal_marker(&self.buf[self.seg_start..end]);
        if let Some(ctx) = &self.append {
            let tag = ctx.tag.clone();
            let close = ctx.close_paren;
            let opts = self.opts();
            let mut c = Cursor::new(&self.buf, opts);
            return match append_next(&mut c, close) {
                Ok(None) => {
                    self.reset();
                    Ok(Some(Event::AppendDone { tag }))
                }
                Ok(Some(m)) => {
                    let Some(ctx) = self.append.take() else {
                        return Ok(None);
                    };
                    self.start_message(ctx.tag, ctx.mailbox, ctx.index + 1, m)
                        .map(Some)
                }
                Err(e) => match marker {
                    Some(mk) => Err(self.fail_at_literal(Some(tag), mk, e)),
                    None => {
                        self.reset();
                        Err(CommandError::new(Some(tag), e))
                    }
                },
            };
        }
        let Some(marker) = marker else {
            let result = parse_command(&self.buf, self.opts());
            self.reset();
            return result.map(|c| Some(Event::Command(c)));
        };
        if is_append(&self.buf) {
            let mut c = Cursor::new(&self.buf, self.opts());
            match append_start(&mut c) {
                Ok(AppendPrefix::MailboxLiteral) => {}
                Ok(AppendPrefix::Message(tag, mailbox, m)) => {
                    return self.start_message(tag, mailbox, 0, m).map(Some);
                }
                Err(e) => {
                    let tag = leading_tag(&self.buf);
                    return Err(self.fail_at_literal(tag, marker, e));
                }
            }
        }
        self.small_literal(marker)
    }

    fn small_literal(&mut self, marker: Marker) -> Result<Option<Event>, CommandError> {
        let tag = leading_tag(&self.buf);
        let error = if tag.is_none() {
            Some(ParseError::InvalidTag)
        } else if marker.binary {
            Some(ParseError::UnexpectedLiteral8)
        } else if !marker.sync && !self.cfg.literal_plus && marker.size > LITERAL_MINUS_MAX {
            Some(ParseError::NonSyncLiteralTooLarge)
        } else if marker.size > self.cfg.max_literal {
            Some(ParseError::LiteralTooLarge)
        } else if (self.buf.len() as u64).saturating_add(marker.size) > self.cfg.max_command as u64
        {
            Some(ParseError::CommandTooLong)
        } else {
            None
        };
        if let Some(e) = error {
            return Err(self.fail_at_literal(tag, marker, e));
        }
        let Some(tag) = tag else {
            return Ok(None);
        };
        if marker.sync {
            self.state = State::PendingLiteral { size: marker.size };
            Ok(Some(Event::LiteralRequest(LiteralRequest {
                tag,
                size: marker.size,
            })))
        } else {
            self.state = State::Literal {
                remaining: marker.size,
            };
            Ok(None)
        }
    }

    fn start_message(
        &mut self,
        tag: Tag,
        mailbox: Mailbox,
        index: usize,
        m: MessageOpts,
    ) -> Result<Event, CommandError> {
        let marker = Marker {
            size: m.size,
            sync: m.sync,
            binary: m.binary,
        };
        let error = if !m.sync && !self.cfg.literal_plus && m.size > LITERAL_MINUS_MAX {
            Some(ParseError::NonSyncLiteralTooLarge)
        } else if m.size > self.cfg.max_append {
            Some(ParseError::MessageTooLarge)
        } else {
            None
        };
        if let Some(e) = error {
            return Err(self.fail_at_literal(Some(tag), marker, e));
        }
        self.reset();
        self.append = Some(AppendCtx {
            tag: tag.clone(),
            mailbox: mailbox.clone(),
            index,
            close_paren: m.utf8,
        });
        self.state = if m.sync {
            State::PendingAppend { size: m.size }
        } else {
            State::AppendData { remaining: m.size }
        };
        Ok(Event::AppendMessage(AppendMessage {
            tag,
            mailbox,
            index,
            flags: m.flags,
            date: m.date,
            size: m.size,
            sync: m.sync,
            binary: m.binary,
            utf8: m.utf8,
        }))
    }

    fn raw_line(&mut self, end: usize) -> Result<Event, CommandError> {
        let mode = self.mode;
        self.mode = LineMode::Command;
        let line = self.buf.split_to(end);
        self.reset();
        match mode {
            LineMode::IdleDone if line.eq_ignore_ascii_case(b"DONE") => Ok(Event::IdleDone),
            LineMode::AuthResponse if &line[..] == b"*" => Ok(Event::AuthenticateCancel),
            LineMode::AuthResponse if line.is_empty() => Ok(Event::AuthenticateData(Vec::new())),
            LineMode::AuthResponse => decode_base64(&line)
                .map(Event::AuthenticateData)
                .map_err(|e| CommandError::new(None, e)),
            _ => Err(CommandError::new(None, ParseError::ExpectedDone)),
        }
    }
}

fn take_len(remaining: u64, available: usize) -> usize {
    usize::try_from(remaining).map_or(available, |r| r.min(available))
}

fn push_tail(tail: &mut Vec<u8>, data: &[u8]) {
    let keep = data.len().min(TAIL);
    tail.extend_from_slice(&data[data.len() - keep..]);
    if tail.len() > TAIL {
        tail.drain(..tail.len() - TAIL);
    }
}

fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// The tag at the start of a command, if it is followed by SP.
fn leading_tag(buf: &[u8]) -> Option<Tag> {
    let sp = buf.iter().position(|&b| b == b' ')?;
    Tag::from_bytes(&buf[..sp])
}

/// A literal header at the end of a line segment.
#[derive(Debug, Clone, Copy)]
struct Marker {
    size: u64,
    sync: bool,
    binary: bool,
}

/// Recognise `{n}`, `{n+}`, `~{n}`, `~{n+}` at the end of `seg` (CRLF
/// already removed). A size that does not fit saturates, so it fails the
/// limit checks.
fn literal_marker(seg: &[u8]) -> Option<Marker> {
    let body = seg.strip_suffix(b"}")?;
    let (body, sync) = match body.strip_suffix(b"+") {
        Some(b) => (b, false),
        None => (body, true),
    };
    let digits = body.len() - body.iter().rev().take_while(|b| b.is_ascii_digit()).count();
    let (head, num) = body.split_at(digits);
    if num.is_empty() {
        return None;
    }
    let head = head.strip_suffix(b"{")?;
    let binary = head.ends_with(b"~");
    let size = num.iter().fold(0u64, |acc, &d| {
        acc.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    });
    Some(Marker { size, sync, binary })
}
