//! TRANSACTION state commands (RFC 1939 §§5, 7): STAT, LIST, RETR, DELE,
//! RSET, TOP, UIDL. NOOP and QUIT live in `session.rs`.

use pillarbox_pop3_proto::{
    Command, Response, encode_list_line, encode_multiline_body, encode_terminator, normalized_len,
    top_part,
};
use pillarbox_session::Control;
use tracing::warn;

use crate::error::Pop3Error;
use crate::session::{Pop3Session, State};

impl Pop3Session {
    pub(crate) async fn transaction(
        &mut self,
        cmd: Command,
        out: &mut Vec<u8>,
    ) -> Result<Control, Pop3Error> {
        let State::Transaction(md) = &mut self.state else {
            return Err(Pop3Error::WrongState);
        };
        match cmd {
            Command::Stat => {
                let (n, size) = md.stat();
                Response::ok(&format!("{n} {size}")).encode(out);
            }
            Command::List(Some(n)) => {
                let m = md.get(n)?;
                Response::ok(&format!("{n} {}", m.size)).encode(out);
            }
            Command::List(None) => {
                let (count, size) = md.stat();
                Response::ok(&format!("{count} messages ({size} octets)")).encode(out);
                for (n, m) in md.live() {
                    encode_list_line(&format!("{n} {}", m.size), out);
                }
                encode_terminator(out);
            }
            Command::Uidl(Some(n)) => {
                let m = md.get(n)?;
                Response::ok(&format!("{n} {}", md.unique_id(m))).encode(out);
            }
            Command::Uidl(None) => {
                Response::ok("Unique-ID listing follows").encode(out);
                for (n, m) in md.live() {
                    encode_list_line(&format!("{n} {}", md.unique_id(m)), out);
                }
                encode_terminator(out);
            }
            Command::Dele(n) => {
                md.mark(n)?;
                Response::ok(&format!("Message {n} deleted")).encode(out);
            }
            Command::Rset => {
                md.unmark_all();
                let (n, size) = md.stat();
                Response::ok(&format!("Maildrop has {n} messages ({size} octets)")).encode(out);
            }
            Command::Retr(n) => {
                let m = md.get(n)?;
                let (size, message) = (m.size, m.message);
                let data = self.ctx.store.message_bytes(md.account, message).await?;
                if normalized_len(&data) != size {
                    // The store keeps CRLF messages, so this means a
                    // message stored with bare LFs: LIST was approximate.
                    warn!(
                        session = self.conn.session_id,
                        message = %message,
                        "pop3 size differs from the stored size"
                    );
                }
                Response::ok(&format!("{size} octets")).encode(out);
                encode_multiline_body(&data, out);
            }
            Command::Top { msg, lines } => {
                let m = md.get(msg)?;
                let data = self.ctx.store.message_bytes(md.account, m.message).await?;
                Response::ok("Top of message follows").encode(out);
                encode_multiline_body(top_part(&data, lines), out);
            }
            _ => return Err(Pop3Error::WrongState),
        }
        Ok(Control::Continue)
    }
}
