//! Input framing: command lines (bounded, RFC 5321 §4.5.3.1.4 and RFC 4954
//! §4) and message data (DATA text, BDAT chunks) fed into the spool; the
//! per-input loop over them, and the bound on how slowly they may arrive.

use std::time::Duration;

use bytes::{Buf, BytesMut};
use pillarbox_message::spool::Spool;
use pillarbox_session::{Control, Pace};
use smtp_proto::request::receiver::{BdatReceiver, DataReceiver};

use super::{Phase, SmtpSession, auth};
use crate::Mode;
use crate::reply;

/// One framed command line, or why there is none.
pub(super) enum Line {
    /// A complete line (with its line ending).
    Command(BytesMut),
    /// An overlong line was answered and (partly) dropped.
    Skipped,
    /// Need more input.
    Incomplete,
}

impl SmtpSession {
    /// Takes the next command line off the front of `buf`, enforcing
    /// `max_line_length` (RFC 5321 §4.5.3.1.4 / §4.5.3.1.6: `500 5.5.6`).
    /// On submission, AUTH command lines and responses inside an exchange
    /// (`in_auth`) may be up to 12288 octets (RFC 4954 §4).
    pub(super) fn next_line(
        &mut self,
        buf: &mut BytesMut,
        out: &mut Vec<u8>,
        in_auth: bool,
    ) -> Line {
        let newline = buf.iter().position(|&b| b == b'\n');
        if self.skipping_line {
            return match newline {
                Some(pos) => {
                    buf.advance(pos + 1);
                    self.skipping_line = false;
                    Line::Skipped
                }
                None => {
                    buf.clear();
                    Line::Incomplete
                }
            };
        }
        let mut max = self.ctx.config.max_line_length;
        if self.mode == Mode::Submission && (in_auth || auth::is_auth_command(buf)) {
            max = max.max(auth::AUTH_LINE_MAX);
        }
        match newline {
            Some(pos) if pos < max => Line::Command(buf.split_to(pos + 1)),
            Some(pos) => {
                buf.advance(pos + 1);
                self.client_error(out, reply::C500_LINE_TOO_LONG);
                Line::Skipped
            }
            None if buf.len() >= max => {
                buf.clear();
                self.skipping_line = true;
                self.client_error(out, reply::C500_LINE_TOO_LONG);
                Line::Skipped
            }
            None => Line::Incomplete,
        }
    }

    /// Feeds DATA text to the dot-unstuffing receiver and the spool.
    /// Returns true at the end-of-data line.
    pub(super) fn feed_data(
        &mut self,
        receiver: &mut DataReceiver,
        spool: &mut Spool,
        buf: &mut BytesMut,
    ) -> bool {
        let mut bytes = buf.iter();
        let done = receiver.ingest(&mut bytes, &mut self.scratch);
        let consumed = buf.len() - bytes.len();
        buf.advance(consumed);
        // The receiver removes the CR of the final `CRLF.CRLF` by popping
        // it from the buffer, so a trailing CR stays here until the next
        // input shows whether it belongs to the message.
        let keep = usize::from(!done && self.scratch.last() == Some(&b'\r'));
        let upto = self.scratch.len() - keep;
        // Errors are sticky in the spool and reported at the end of data.
        let _ = spool.write(&self.scratch[..upto]);
        self.scratch.drain(..upto);
        done
    }

    /// Feeds BDAT chunk octets to the spool. Returns true at chunk end.
    pub(super) fn feed_chunk(
        &mut self,
        receiver: &mut BdatReceiver,
        spool: &mut Spool,
        buf: &mut BytesMut,
    ) -> bool {
        self.scratch.clear();
        let mut bytes = buf.iter();
        let done = receiver.ingest(&mut bytes, &mut self.scratch);
        let consumed = buf.len() - bytes.len();
        buf.advance(consumed);
        let _ = spool.write(&self.scratch);
        self.scratch.clear();
        done
    }
}

impl SmtpSession {
    /// Consumes every complete command and all message data in `buf`.
    pub(super) async fn units(&mut self, buf: &mut BytesMut, out: &mut Vec<u8>) -> Control {
        loop {
            if self.closing {
                buf.clear();
                return Control::Close;
            }
            match std::mem::replace(&mut self.phase, Phase::Idle) {
                Phase::Data(tx, mut receiver, mut spool) => {
                    if !self.feed_data(&mut receiver, &mut spool, buf) {
                        self.phase = Phase::Data(tx, receiver, spool);
                        return Control::Continue;
                    }
                    self.finish(tx, spool, out).await;
                }
                Phase::Chunk(tx, mut spool, mut receiver) => {
                    if !self.feed_chunk(&mut receiver, &mut spool, buf) {
                        self.phase = Phase::Chunk(tx, spool, receiver);
                        return Control::Continue;
                    }
                    if receiver.is_last {
                        self.finish(tx, spool, out).await;
                    } else if spool.is_too_large() {
                        // RFC 3030 §2: after an error reply to a chunk the
                        // client sends no more chunks; the message is gone.
                        reply::C552_MESSAGE_TOO_BIG.write(out);
                    } else if let Some(error) = spool.failure() {
                        tracing::warn!(session = self.conn.session_id, %error, "spool failed");
                        reply::store_error(&pillarbox_store::StoreError::Io(error)).write(out);
                    } else {
                        let text = format!(
                            "{} ({} octets so far)",
                            reply::C250_CHUNK_ACCEPTED.text,
                            spool.len()
                        );
                        reply::C250_CHUNK_ACCEPTED.write_text(out, text);
                        self.phase = Phase::Chunks(tx, spool);
                    }
                }
                Phase::Discard(mut receiver, answer) => {
                    let mut bytes = buf.iter();
                    let done = receiver.ingest(&mut bytes);
                    let consumed = buf.len() - bytes.len();
                    buf.advance(consumed);
                    if !done {
                        self.phase = Phase::Discard(receiver, answer);
                        return Control::Continue;
                    }
                    self.client_error(out, answer);
                }
                Phase::Auth(exchange) => match self.next_line(buf, out, true) {
                    Line::Incomplete => {
                        self.phase = Phase::Auth(exchange);
                        return Control::Continue;
                    }
                    // RFC 4954 §4: an overlong response ends the exchange
                    // (answered `500 5.5.6` by `next_line`).
                    Line::Skipped => {}
                    Line::Command(line) => {
                        let control = self.auth_response(*exchange, &line, out).await;
                        if control != Control::Continue {
                            return control;
                        }
                    }
                },
                phase => {
                    self.phase = phase;
                    match self.next_line(buf, out, false) {
                        Line::Incomplete => return Control::Continue,
                        Line::Skipped => {}
                        Line::Command(line) => {
                            let control = self.command(line, buf, out).await;
                            if control != Control::Continue {
                                return control;
                            }
                        }
                    }
                }
            }
        }
    }

    /// Slowloris defence: a command line, or a message from DATA/BDAT to
    /// its end, that takes longer than `command_timeout_secs` plus a second
    /// per `min_data_rate` octets ends the connection with `421 4.4.2`
    /// (RFC 5321 §4.5.3.2 bounds each command and the data; the idle
    /// timeout alone never fires while a byte trickles in now and then).
    pub(super) fn pace_check(
        &mut self,
        before: usize,
        buf: &mut BytesMut,
        control: Control,
        out: &mut Vec<u8>,
    ) -> Control {
        let busy = !buf.is_empty()
            || self.skipping_line
            || matches!(
                self.phase,
                Phase::Data(..) | Phase::Chunk(..) | Phase::Chunks(..) | Phase::Discard(..)
            );
        let pace = Pace {
            timeout: Duration::from_secs(self.ctx.config.command_timeout_secs),
            min_rate: self.ctx.config.min_data_rate,
        };
        let now = self.ctx.clock().now();
        let Some(taken) = self.pace.check(pace, now, before, buf.len(), busy) else {
            return control;
        };
        if control != Control::Continue {
            return control;
        }
        tracing::warn!(
            session = self.conn.session_id,
            peer = %self.conn.peer,
            seconds = taken.as_secs(),
            "client too slow; closing connection"
        );
        let text = format!("{} {}", self.hostname(), reply::C421_TOO_SLOW.text);
        reply::C421_TOO_SLOW.write_text(out, text);
        self.phase = Phase::Idle;
        self.closing = true;
        buf.clear();
        Control::Close
    }
}
