//! Input framing: command lines (bounded, RFC 5321 §4.5.3.1.4 and RFC 4954
//! §4) and message data (DATA text, BDAT chunks) fed into the spool.

use bytes::{Buf, BytesMut};
use pillarbox_message::spool::Spool;
use smtp_proto::request::receiver::{BdatReceiver, DataReceiver};

use super::{SmtpSession, auth};
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
