//! One SMTP delivery attempt to one server address, with `mail-send`
//! (DESIGN §6): EHLO, opportunistic STARTTLS (RFC 3207), MAIL, one RCPT
//! per recipient, DATA; per-recipient results. RFC 3461 parameters go
//! on MAIL and RCPT only when the server offers DSN.

use std::net::SocketAddr;
use std::time::Duration;

use mail_send::SmtpClient;
use smtp_proto::Response;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio_rustls::TlsConnector;

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

/// The result of an attempt that reached the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Delivery {
    /// One per recipient, in order.
    pub(crate) outcomes: Vec<RcptOutcome>,
    /// The server offered DSN (RFC 3461), so it reports on from here;
    /// otherwise a `relayed` notice may be due (§5.2.2).
    pub(crate) dsn: bool,
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

/// Either a per-recipient outcome list (same order as
/// `attempt.recipients`) or a host-level failure.
pub(crate) async fn deliver(attempt: &Attempt<'_>) -> Result<Delivery, HostFailure> {
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
    if let Some(connector) = attempt.tls
        && ehlo.has_capability(smtp_proto::EXT_START_TLS)
    {
        match client.start_tls(connector, attempt.server_name).await {
            Ok(mut tls) => {
                let ehlo = tls
                    .ehlo(attempt.helo)
                    .await
                    .map_err(|e| HostFailure(format!("EHLO after STARTTLS: {e}")))?;
                let dsn = ehlo.has_capability(smtp_proto::EXT_DSN);
                let outcomes = transaction(&mut tls, attempt, dsn).await;
                quit_in_background(tls);
                return Ok(Delivery { outcomes, dsn });
            }
            Err(e) => {
                // RFC 7435 (opportunistic security): the caller retries
                // this address in plaintext.
                return Err(HostFailure(format!("STARTTLS: {e}")));
            }
        }
    }
    let dsn = ehlo.has_capability(smtp_proto::EXT_DSN);
    let outcomes = transaction(&mut client, attempt, dsn).await;
    quit_in_background(client);
    Ok(Delivery { outcomes, dsn })
}

/// QUIT without waiting for the `221`: the results go to the store at
/// once, which narrows the window in which a crash makes a delivered
/// message be sent again (see the crate docs on at-least-once).
fn quit_in_background<T: AsyncRead + AsyncWrite + Unpin + Send + 'static>(client: SmtpClient<T>) {
    tokio::spawn(async move {
        let _ = client.quit().await;
    });
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

/// MAIL, RCPTs and DATA. Errors after MAIL apply to every recipient still
/// open: retrying another host after a transaction began could deliver
/// twice.
async fn transaction<T: AsyncRead + AsyncWrite + Unpin>(
    client: &mut SmtpClient<T>,
    attempt: &Attempt<'_>,
    dsn: bool,
) -> Vec<RcptOutcome> {
    let n = attempt.recipients.len();
    let all = |o: RcptOutcome| vec![o; n];
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
        Ok(r) => r,
        Err(e) => return all(RcptOutcome::Deferred(format!("MAIL: {e}"))),
    };
    if mail.code / 100 != 2 {
        return all(classify(&mail));
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
            Ok(r) => outcomes[i] = Some(classify(&r)),
            Err(e) => {
                let o = RcptOutcome::Deferred(format!("RCPT: {e}"));
                return outcomes
                    .into_iter()
                    .map(|x| x.unwrap_or(o.clone()))
                    .collect();
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
                    Ok(Ok(r)) => classify(&r),
                    Ok(Err(e)) => RcptOutcome::Deferred(format!("DATA: {e}")),
                    Err(_) => RcptOutcome::Deferred("DATA: timeout".into()),
                }
            }
            Ok(r) => classify(&r),
            Err(e) => RcptOutcome::Deferred(format!("DATA: {e}")),
        };
        for i in accepted {
            outcomes[i] = Some(final_outcome.clone());
        }
    }
    outcomes
        .into_iter()
        .map(|o| o.unwrap_or(RcptOutcome::Deferred("no reply".into())))
        .collect()
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
