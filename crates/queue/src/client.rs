//! SMTP sessions to one server address, with `mail-send` (DESIGN §6):
//! EHLO, opportunistic STARTTLS (RFC 3207), then one or more transactions
//! (RSET when due, MAIL, one RCPT per recipient, DATA) with per-recipient
//! results. RFC 3461 parameters go
//! on MAIL and RCPT only when the server offers DSN.

use std::net::SocketAddr;
use std::time::Duration;

use mail_send::SmtpClient;
use smtp_proto::Response;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// What became of one recipient in one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RcptOutcome {
    /// 2xx after the data.
    Delivered(String),
    /// 5xx: never retry.
    Failed(String),
    /// 4xx or a broken connection: retry later.
    Deferred(String),
}

/// The attempt did not get as far as a transaction (connection, greeting,
/// EHLO or TLS trouble): another address or host may do better.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostFailure(pub String);

/// What one attempt needs.
pub(crate) struct Attempt<'a> {
    pub(crate) addr: SocketAddr,
    /// The server's name for TLS (host name or IP literal).
    pub(crate) server_name: &'a str,
    pub(crate) helo: &'a str,
    pub(crate) timeout: Duration,
    /// `None`: do not try STARTTLS.
    pub(crate) tls: Option<&'a TlsConnector>,
    pub(crate) reverse_path: &'a str,
    /// MAIL parameters for a server offering DSN (`RET=`, `ENVID=`).
    pub(crate) mail_params: &'a str,
    /// `(address, RCPT parameters such as NOTIFY/ORCPT)` in order.
    pub(crate) recipients: &'a [(String, String)],
    pub(crate) message: &'a [u8],
}

fn text(r: &Response<String>) -> String {
    let [a, b, c] = r.esc;
    let message = r.message.replace(['\r', '\n'], " ");
    if a == 0 {
        format!("{} {}", r.code, message.trim())
    } else {
        format!("{} {a}.{b}.{c} {}", r.code, message.trim())
    }
}

fn classify(r: &Response<String>) -> RcptOutcome {
    match r.code {
        200..=299 => RcptOutcome::Delivered(text(r)),
        500..=599 => RcptOutcome::Failed(text(r)),
        _ => RcptOutcome::Deferred(text(r)),
    }
}

/// An SMTP connection past EHLO (and STARTTLS when it succeeded), with
/// what the server announced on it: the unit [`crate::pool`] keeps idle
/// between transactions (RFC 5321 §3.3: one session, many transactions).
pub(crate) struct Session {
    conn: Conn,
    /// The server offered DSN (RFC 3461) in its EHLO reply on this
    /// connection (after STARTTLS, the second EHLO's).
    pub(crate) dsn: bool,
    /// STARTTLS succeeded.
    pub(crate) tls: bool,
    /// Transactions run on this connection.
    pub(crate) transactions: u32,
    /// False after an I/O error, a timeout or a `421`: never reused.
    pub(crate) usable: bool,
    /// The last transaction ended with a reply to DATA's content (or to
    /// RSET): the next may start with MAIL directly; otherwise RSET first
    /// (RFC 5321 §4.1.1.5).
    clean: bool,
}

enum Conn {
    Plain(SmtpClient<TcpStream>),
    Tls(Box<SmtpClient<TlsStream<TcpStream>>>),
}

/// The outcome of [`Session::transaction`].
pub(crate) enum Tx {
    /// The server answered every step it was asked (per-recipient
    /// outcomes, in order).
    Done(Vec<RcptOutcome>),
    /// RSET or MAIL failed (I/O error, EOF, timeout or `421`) before any
    /// recipient was sent: nothing can have been delivered, so a cached
    /// connection may be replaced by a fresh one. The outcome applies to
    /// every recipient otherwise.
    NotStarted(RcptOutcome),
}

impl Session {
    /// Connects, reads the greeting, EHLO, and STARTTLS (RFC 3207) when
    /// `attempt.tls` is set and the server offers it. A STARTTLS failure
    /// is a [`HostFailure`] starting with "STARTTLS": the caller may try
    /// again in plaintext (RFC 7435).
    pub(crate) async fn open(attempt: &Attempt<'_>) -> Result<Session, HostFailure> {
        let mut client = SmtpClient::connect(attempt.addr, attempt.timeout)
            .await
            .map_err(|e| HostFailure(format!("connect to {}: {e}", attempt.addr)))?;
        let greeting = read(&mut client, attempt.timeout).await?;
        if greeting.code != 220 {
            return Err(HostFailure(format!("greeting: {}", text(&greeting))));
        }
        let ehlo = client
            .ehlo(attempt.helo)
            .await
            .map_err(|e| HostFailure(format!("EHLO: {e}")))?;
        let session = |conn, dsn, tls| Session {
            conn,
            dsn,
            tls,
            transactions: 0,
            usable: true,
            clean: true,
        };
        if let Some(connector) = attempt.tls
            && ehlo.has_capability(smtp_proto::EXT_START_TLS)
        {
            // RFC 7435 (opportunistic security): on error the caller
            // retries this address in plaintext.
            let mut tls = client
                .start_tls(connector, attempt.server_name)
                .await
                .map_err(|e| HostFailure(format!("STARTTLS: {e}")))?;
            // RFC 3207 §4.2: forget what was learnt before TLS.
            let ehlo = tls
                .ehlo(attempt.helo)
                .await
                .map_err(|e| HostFailure(format!("EHLO after STARTTLS: {e}")))?;
            let dsn = ehlo.has_capability(smtp_proto::EXT_DSN);
            return Ok(session(Conn::Tls(Box::new(tls)), dsn, true));
        }
        let dsn = ehlo.has_capability(smtp_proto::EXT_DSN);
        Ok(session(Conn::Plain(client), dsn, false))
    }

    /// One mail transaction for `attempt` on this connection; updates
    /// [`Session::usable`] and whether RSET is due before the next.
    pub(crate) async fn transaction(&mut self, attempt: &Attempt<'_>) -> Tx {
        // RFC 5321 §4.1.1.5: RSET clears a transaction that did not end
        // with the reply to DATA's content; after one that did, the next
        // starts directly with MAIL (§3.3).
        let rset = !self.clean;
        let mut state = TxState {
            usable: true,
            clean: false,
        };
        let tx = match &mut self.conn {
            Conn::Plain(c) => transaction(c, attempt, self.dsn, rset, &mut state).await,
            Conn::Tls(c) => transaction(c, attempt, self.dsn, rset, &mut state).await,
        };
        self.transactions = self.transactions.saturating_add(1);
        self.usable = state.usable;
        self.clean = state.clean;
        tx
    }

    /// QUIT without waiting for the `221` in this task: the results go to
    /// the store at once, which narrows the window in which a crash makes
    /// a delivered message be sent again (see the crate docs on
    /// at-least-once).
    pub(crate) fn quit_in_background(self) {
        tokio::spawn(self.quit());
    }

    /// QUIT and close, waiting at most 10 s for the `221`.
    pub(crate) async fn quit(self) {
        self.quit_within(Duration::from_secs(10)).await;
    }

    /// QUIT and close, waiting at most `wait` for the `221`.
    pub(crate) async fn quit_within(self, wait: Duration) {
        let _ = match self.conn {
            Conn::Plain(c) => tokio::time::timeout(wait, c.quit()).await,
            Conn::Tls(c) => tokio::time::timeout(wait, c.quit()).await,
        };
    }
}

async fn read<T: AsyncRead + AsyncWrite + Unpin>(
    client: &mut SmtpClient<T>,
    timeout: Duration,
) -> Result<Response<String>, HostFailure> {
    tokio::time::timeout(timeout, client.read())
        .await
        .map_err(|_| HostFailure("timeout".into()))?
        .map_err(|e| HostFailure(e.to_string()))
}

/// What a transaction leaves of its connection.
struct TxState {
    /// No I/O error, timeout or `421` (RFC 5321 §3.8: the server is
    /// closing the channel).
    usable: bool,
    /// It ended with a reply to DATA's content.
    clean: bool,
}

/// `r`, noting in `state` that a `421` ends the session.
fn note(r: Response<String>, state: &mut TxState) -> Response<String> {
    if r.code == 421 {
        state.usable = false;
    }
    r
}

/// RSET (when `rset`), MAIL, RCPTs and DATA. Errors after MAIL apply to
/// every recipient still open: retrying another host after a transaction
/// began could deliver twice.
async fn transaction<T: AsyncRead + AsyncWrite + Unpin>(
    client: &mut SmtpClient<T>,
    attempt: &Attempt<'_>,
    dsn: bool,
    rset: bool,
    state: &mut TxState,
) -> Tx {
    let n = attempt.recipients.len();
    let all = |o: RcptOutcome| vec![o; n];
    if rset {
        match client.cmd(b"RSET\r\n").await {
            Ok(r) if r.code / 100 == 2 => {}
            Ok(r) => {
                state.usable = false;
                return Tx::NotStarted(RcptOutcome::Deferred(format!("RSET: {}", text(&r))));
            }
            Err(e) => {
                state.usable = false;
                return Tx::NotStarted(RcptOutcome::Deferred(format!("RSET: {e}")));
            }
        }
    }
    // RFC 3461 §5.2.1: RET and ENVID are passed on to a DSN server.
    let mail_params = if dsn && !attempt.mail_params.is_empty() {
        format!(" {}", attempt.mail_params)
    } else {
        String::new()
    };
    let mail = match client
        .cmd(format!(
            "MAIL FROM:<{}>{mail_params}\r\n",
            attempt.reverse_path
        ))
        .await
    {
        Ok(r) => note(r, state),
        Err(e) => {
            state.usable = false;
            return Tx::NotStarted(RcptOutcome::Deferred(format!("MAIL: {e}")));
        }
    };
    if mail.code == 421 {
        return Tx::NotStarted(classify(&mail));
    }
    if mail.code / 100 != 2 {
        return Tx::Done(all(classify(&mail)));
    }
    let mut outcomes: Vec<Option<RcptOutcome>> = vec![None; n];
    let mut accepted = Vec::new();
    for (i, (address, params)) in attempt.recipients.iter().enumerate() {
        let params = if dsn && !params.is_empty() {
            format!(" {params}")
        } else {
            String::new()
        };
        match client.cmd(format!("RCPT TO:<{address}>{params}\r\n")).await {
            Ok(r) if r.code / 100 == 2 => accepted.push(i),
            Ok(r) => outcomes[i] = Some(classify(&note(r, state))),
            Err(e) => {
                state.usable = false;
                let o = RcptOutcome::Deferred(format!("RCPT: {e}"));
                return Tx::Done(
                    outcomes
                        .into_iter()
                        .map(|x| x.unwrap_or(o.clone()))
                        .collect(),
                );
            }
        }
    }
    if !accepted.is_empty() {
        let final_outcome = match client.cmd(b"DATA\r\n").await {
            Ok(r) if r.code == 354 => {
                match tokio::time::timeout(attempt.timeout, async {
                    write_data(&mut client.stream, attempt.message).await?;
                    client
                        .read()
                        .await
                        .map_err(|e| std::io::Error::other(e.to_string()))
                })
                .await
                {
                    Ok(Ok(r)) => {
                        // Any final reply to the content ends the
                        // transaction (RFC 5321 §4.1.1.4).
                        state.clean = true;
                        classify(&note(r, state))
                    }
                    // After the content was sent the outcome is unknown:
                    // deferred, never retried on another connection now.
                    Ok(Err(e)) => {
                        state.usable = false;
                        RcptOutcome::Deferred(format!("DATA: {e}"))
                    }
                    Err(_) => {
                        state.usable = false;
                        RcptOutcome::Deferred("DATA: timeout".into())
                    }
                }
            }
            Ok(r) => classify(&note(r, state)),
            Err(e) => {
                state.usable = false;
                RcptOutcome::Deferred(format!("DATA: {e}"))
            }
        };
        for i in accepted {
            outcomes[i] = Some(final_outcome.clone());
        }
    }
    Tx::Done(
        outcomes
            .into_iter()
            .map(|o| o.unwrap_or(RcptOutcome::Deferred("no reply".into())))
            .collect(),
    )
}

/// Writes `message` as DATA content: RFC 5321 §4.5.2 transparency (a line
/// starting with "." gets one more), a final CRLF if the message lacks one,
/// then the end-of-data line. Unlike mail-send's `write_message`, it does
/// not add an empty line to a message that already ends with CRLF, and it
/// only stuffs dots at the start of a line (after CRLF), where the receiver
/// removes them.
async fn write_data<W: AsyncWrite + Unpin>(stream: &mut W, message: &[u8]) -> std::io::Result<()> {
    stream.write_all(&dot_stuff(message)).await?;
    stream.flush().await
}

/// The bytes [`write_data`] sends for `message`.
fn dot_stuff(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + message.len() / 64 + 8);
    let mut line_start = true;
    for (i, &b) in message.iter().enumerate() {
        if line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        line_start = b == b'\n' && i > 0 && message[i - 1] == b'\r';
    }
    if !message.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

#[cfg(test)]
mod data_tests {
    use super::dot_stuff;

    #[test]
    fn message_ending_in_crlf_gets_no_extra_line() {
        assert_eq!(
            dot_stuff(b"Subject: x\r\n\r\nhi\r\n"),
            b"Subject: x\r\n\r\nhi\r\n.\r\n"
        );
    }

    #[test]
    fn message_without_final_crlf_is_terminated() {
        assert_eq!(dot_stuff(b"a\r\n\r\nhi"), b"a\r\n\r\nhi\r\n.\r\n");
    }

    #[test]
    fn leading_dots_are_doubled_only_at_line_start() {
        assert_eq!(
            dot_stuff(b".a\r\n..b\r\nc.d\r\n.\r\nx\r.y\n.z"),
            b"..a\r\n...b\r\nc.d\r\n..\r\nx\r.y\n.z\r\n.\r\n"
        );
    }
}
