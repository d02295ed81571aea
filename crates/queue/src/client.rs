//! One SMTP delivery attempt to one server address, with `mail-send`
//! (DESIGN §6): EHLO, opportunistic STARTTLS (RFC 3207), MAIL, one RCPT
//! per recipient, DATA; per-recipient results.

use std::net::SocketAddr;
use std::time::Duration;

use mail_send::SmtpClient;
use smtp_proto::Response;
use tokio::io::{AsyncRead, AsyncWrite};
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
pub(crate) async fn deliver(attempt: &Attempt<'_>) -> Result<Vec<RcptOutcome>, HostFailure> {
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
                let result = transaction(&mut tls, attempt, dsn).await;
                let _ = tls.quit().await;
                return Ok(result);
            }
            Err(e) => {
                // RFC 7435 (opportunistic security): the caller retries
                // this address in plaintext.
                return Err(HostFailure(format!("STARTTLS: {e}")));
            }
        }
    }
    let dsn = ehlo.has_capability(smtp_proto::EXT_DSN);
    let result = transaction(&mut client, attempt, dsn).await;
    let _ = client.quit().await;
    Ok(result)
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
    let mail = match client
        .cmd(format!("MAIL FROM:<{}>\r\n", attempt.reverse_path))
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
                    client.write_message(attempt.message).await?;
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
