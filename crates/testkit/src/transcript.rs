//! Transcript tests: files of client/server lines run against a
//! [`TestServer`].
//!
//! Format, one directive per line:
//! - `# ...` comment; blank lines are ignored.
//! - `@protocol smtp|submission|submissions|lmtp|pop3|pop3s|imap|imaps` —
//!   the listener a connection uses when first mentioned (default for all
//!   connections).
//! - `@config section.key=value` (or `key=value` for a top-level setting)
//!   — configuration (TOML value), before the
//!   first connection or setup directive.
//! - `@user ADDRESS PASSWORD` — creates the domain (if new) and the account.
//! - `@alias ADDRESS TARGET`, `@catchall DOMAIN ADDRESS`, `@domain NAME`.
//! - `@deliver ADDRESS` then message lines up to a line `.` — stores the
//!   message (lines joined with CRLF) in the account's INBOX.
//! - `@connect N LISTENER` — opens connection N on a listener.
//! - `@starttls N` — TLS handshake on connection N (after the server's OK).
//! - `@close N` — closes the client side of connection N.
//! - `@clock +SECONDS` — advances the manual clock.
//! - `@mailbox ADDRESS MAILBOX COUNT` — asserts the number of messages.
//! - `@message ADDRESS MAILBOX INDEX contains TEXT` — asserts that the
//!   INDEX-th (1-based, UID order) message contains TEXT.
//! - `@message ADDRESS MAILBOX INDEX lacks TEXT` — the opposite.
//! - `@queue ADDRESS COUNT` — asserts the number of outbound queue items
//!   with a recipient ADDRESS.
//! - `@queue ADDRESS contains TEXT` (or `lacks TEXT`) — the newest such
//!   item, seen as `MAIL FROM:<...>` and `RCPT TO:<ADDRESS> NOTIFY=...
//!   ORCPT=...` lines (absent parameters left out) followed by the queued
//!   message, contains TEXT.
//! - `CN: text` — connection N sends `text` + CRLF (`CN:` alone sends CRLF).
//! - `SN: text` — the next line from connection N must match `text`, where
//!   `{*}` matches any run of characters and `{$name}` captures a run of
//!   non-space characters; `{$name}` in later lines is replaced by it.
//! - `SN: <eof>` — connection N must be closed by the server.

use std::collections::HashMap;
use std::path::Path;

use crate::client::Conn;
use crate::server::TestServer;

/// One failure, with its place.
#[derive(Debug)]
pub struct Failure {
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

struct Runner {
    server: Option<TestServer>,
    config: toml::Table,
    protocol: String,
    conns: HashMap<u32, Conn>,
    vars: HashMap<String, String>,
    /// Recent lines per connection, for failure reports.
    log: HashMap<u32, Vec<String>>,
}

/// Runs a transcript file.
pub async fn run_file(path: &Path) -> Result<(), Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| Failure {
        line: 0,
        message: format!("cannot read: {e}"),
    })?;
    run_text(&text).await
}

/// Runs transcript text.
pub async fn run_text(text: &str) -> Result<(), Failure> {
    let mut r = Runner {
        server: None,
        config: toml::Table::new(),
        protocol: "smtp".into(),
        conns: HashMap::new(),
        vars: HashMap::new(),
        log: HashMap::new(),
    };
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let lineno = i + 1;
        i += 1;
        let res = if let Some(rest) = line.strip_prefix("@deliver ") {
            let mut msg = Vec::new();
            while i < lines.len() && lines[i] != "." {
                msg.push(lines[i]);
                i += 1;
            }
            i += 1;
            let mut data = msg.join("\r\n");
            data.push_str("\r\n");
            let s = r.server().await;
            s.deliver(rest.trim(), data.as_bytes()).await;
            Ok(())
        } else {
            r.step(line).await
        };
        if let Err(message) = res {
            let mut report = message;
            for (n, l) in &r.log {
                report.push_str(&format!("\n  --- connection {n}, recent lines:"));
                for x in l.iter().rev().take(12).rev() {
                    report.push_str(&format!("\n  {x}"));
                }
            }
            if let Some(mut s) = r.server.take() {
                s.stop().await;
            }
            return Err(Failure {
                line: lineno,
                message: report,
            });
        }
    }
    for (_, mut c) in r.conns.drain() {
        c.close().await;
    }
    if let Some(mut s) = r.server.take() {
        s.stop().await;
    }
    Ok(())
}

impl Runner {
    async fn server(&mut self) -> &TestServer {
        if self.server.is_none() {
            let text = toml::to_string(&self.config)
                .map_err(|e| e.to_string())
                .unwrap_or_default();
            self.server = Some(TestServer::start(&text).await);
        }
        self.server.as_ref().expect("started")
    }

    fn subst(&self, s: &str) -> String {
        let mut out = s.to_string();
        for (k, v) in &self.vars {
            out = out.replace(&format!("{{${k}}}"), v);
        }
        out
    }

    async fn conn(&mut self, n: u32) -> Result<&mut Conn, String> {
        if !self.conns.contains_key(&n) {
            let proto = self.protocol.clone();
            let c = self.server().await.connect(&proto).await;
            self.conns.insert(n, c);
        }
        self.conns
            .get_mut(&n)
            .ok_or_else(|| "no connection".to_string())
    }

    fn note(&mut self, n: u32, s: String) {
        let l = self.log.entry(n).or_default();
        l.push(s);
        if l.len() > 50 {
            l.remove(0);
        }
    }

    async fn step(&mut self, line: &str) -> Result<(), String> {
        let trimmed = line.trim_end();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            return Ok(());
        }
        if let Some(d) = trimmed.strip_prefix('@') {
            return self.directive(d).await;
        }
        let (head, body) = match trimmed.split_once(':') {
            Some((h, b)) => (h, b.strip_prefix(' ').unwrap_or(b)),
            None => return Err(format!("cannot parse line {trimmed:?}")),
        };
        let (who, n) = head.split_at(1);
        let n: u32 = n
            .parse()
            .map_err(|_| format!("bad connection in {head:?}"))?;
        match who {
            "C" => {
                let text = self.subst(body);
                self.note(n, format!("C{n}: {text}"));
                let c = self.conn(n).await?;
                c.send_line(&text)
                    .await
                    .map_err(|e| format!("send failed: {e}"))
            }
            "S" => {
                let expected = self.subst(body);
                let c = self.conn(n).await?;
                let got = c
                    .read_line()
                    .await
                    .map_err(|e| format!("read failed: {e}"))?;
                match (expected.as_str(), got) {
                    ("<eof>", None) => {
                        self.note(n, format!("S{n}: <eof>"));
                        Ok(())
                    }
                    ("<eof>", Some(l)) => Err(format!("expected eof, got {l:?}")),
                    (_, None) => Err(format!("expected {expected:?}, got eof")),
                    (_, Some(l)) => {
                        self.note(n, format!("S{n}: {l}"));
                        let mut caps = Vec::new();
                        if matches(&expected, &l, &mut caps) {
                            for (k, v) in caps {
                                self.vars.insert(k, v);
                            }
                            Ok(())
                        } else {
                            Err(format!("expected {expected:?}\n       got {l:?}"))
                        }
                    }
                }
            }
            _ => Err(format!("cannot parse line {trimmed:?}")),
        }
    }

    async fn directive(&mut self, d: &str) -> Result<(), String> {
        let words: Vec<&str> = d.split_whitespace().collect();
        match words.as_slice() {
            ["protocol", p] => {
                self.protocol = p.to_string();
                Ok(())
            }
            ["config", kv] => {
                if self.server.is_some() {
                    return Err("@config after the server started".into());
                }
                let (k, v) = kv.split_once('=').ok_or("expected key=value")?;
                let value: toml::Value = toml::from_str::<toml::Table>(&format!("v = {v}"))
                    .map_err(|e| format!("bad value {v:?}: {e}"))?
                    .remove("v")
                    .ok_or("bad value")?;
                // `key=value` sets a top-level setting, `section.key=value`
                // one in a section.
                let Some((section, key)) = k.split_once('.') else {
                    self.config.insert(k.to_string(), value);
                    return Ok(());
                };
                let table = self
                    .config
                    .entry(section.to_string())
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()));
                let toml::Value::Table(t) = table else {
                    return Err(format!("{section} is not a section"));
                };
                t.insert(key.to_string(), value);
                Ok(())
            }
            ["user", addr, pw] => {
                let s = self.server().await;
                s.add_user(addr, pw).await;
                Ok(())
            }
            ["domain", name] => {
                let s = self.server().await;
                pillarbox::admin::domain_add(&s.store, name)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
            ["alias", a, t] => {
                let s = self.server().await;
                pillarbox::admin::alias_add(&s.store, a, t)
                    .await
                    .map_err(|e| e.to_string())
            }
            ["catchall", domain, a] => {
                let s = self.server().await;
                pillarbox::admin::domain_catch_all(&s.store, domain, Some(a))
                    .await
                    .map_err(|e| e.to_string())
            }
            ["connect", n, proto] => {
                let n: u32 = n.parse().map_err(|_| "bad connection number")?;
                let c = self.server().await.connect(proto).await;
                self.conns.insert(n, c);
                Ok(())
            }
            ["starttls", n] => {
                let n: u32 = n.parse().map_err(|_| "bad connection number")?;
                self.note(n, "(TLS handshake)".into());
                let c = self.conn(n).await?;
                c.start_tls().await.map_err(|e| format!("TLS failed: {e}"))
            }
            ["close", n] => {
                let n: u32 = n.parse().map_err(|_| "bad connection number")?;
                if let Some(mut c) = self.conns.remove(&n) {
                    c.close().await;
                }
                // Let the server notice before the next step.
                tokio::task::yield_now().await;
                Ok(())
            }
            ["clock", delta] => {
                let secs: u64 = delta
                    .trim_start_matches('+')
                    .parse()
                    .map_err(|_| "bad clock delta")?;
                let s = self.server().await;
                s.clock.advance(std::time::Duration::from_secs(secs));
                Ok(())
            }
            ["mailbox", addr, mailbox, count] => {
                let want: usize = count.parse().map_err(|_| "bad count")?;
                let entries = self.entries(addr, mailbox).await?;
                if entries.len() == want {
                    Ok(())
                } else {
                    Err(format!(
                        "{addr} {mailbox}: expected {want} messages, found {}",
                        entries.len()
                    ))
                }
            }
            ["message", addr, mailbox, idx, mode, ..] => {
                let idx: usize = idx.parse().map_err(|_| "bad index")?;
                let text = d
                    .split_once(&format!(" {mode} "))
                    .map(|x| x.1)
                    .ok_or("expected text")?
                    .to_string();
                let entries = self.entries(addr, mailbox).await?;
                let e = entries
                    .get(idx.wrapping_sub(1))
                    .ok_or_else(|| format!("no message {idx}"))?;
                let s = self.server().await;
                let account = s
                    .store
                    .account(addr)
                    .await
                    .map_err(|e| e.to_string())?
                    .ok_or("no account")?;
                let bytes = s
                    .store
                    .message_bytes(account.id, e.message)
                    .await
                    .map_err(|e| e.to_string())?;
                let body = String::from_utf8_lossy(&bytes);
                let found = body.contains(&text);
                match (*mode, found) {
                    ("contains", true) | ("lacks", false) => Ok(()),
                    ("contains", false) => Err(format!("message lacks {text:?}:\n{body}")),
                    ("lacks", true) => Err(format!("message contains {text:?}:\n{body}")),
                    _ => Err(format!("unknown mode {mode}")),
                }
            }
            ["queue", addr, count] => {
                let want: usize = count.parse().map_err(|_| "bad count")?;
                let found = self.queued(addr).await?.len();
                if found == want {
                    Ok(())
                } else {
                    Err(format!(
                        "queue: expected {want} items for {addr}, found {found}"
                    ))
                }
            }
            ["queue", addr, mode, ..] => {
                let text = d
                    .split_once(&format!(" {mode} "))
                    .map(|x| x.1)
                    .ok_or("expected text")?
                    .to_string();
                let items = self.queued(addr).await?;
                let item = items
                    .last()
                    .ok_or_else(|| format!("nothing queued for {addr}"))?;
                let mut seen = format!("MAIL FROM:<{}>\r\n", item.reverse_path);
                for r in item.recipients.iter().filter(|r| r.address == *addr) {
                    seen.push_str(&format!("RCPT TO:<{}>", r.address));
                    if let Some(notify) = &r.notify {
                        seen.push_str(&format!(" NOTIFY={notify}"));
                    }
                    if let Some(orcpt) = &r.orcpt {
                        seen.push_str(&format!(" ORCPT={orcpt}"));
                    }
                    seen.push_str("\r\n");
                }
                let s = self.server().await;
                let bytes = s
                    .store
                    .queue_message(item.id)
                    .await
                    .map_err(|e| e.to_string())?;
                seen.push_str(&String::from_utf8_lossy(&bytes));
                let found = seen.contains(&text);
                match (*mode, found) {
                    ("contains", true) | ("lacks", false) => Ok(()),
                    ("contains", false) => Err(format!("queued item lacks {text:?}:\n{seen}")),
                    ("lacks", true) => Err(format!("queued item contains {text:?}:\n{seen}")),
                    _ => Err(format!("unknown mode {mode}")),
                }
            }
            _ => Err(format!("unknown directive @{d}")),
        }
    }

    /// The outbound queue items with a recipient `addr`, oldest first.
    async fn queued(&mut self, addr: &str) -> Result<Vec<pillarbox_store::QueueItem>, String> {
        let s = self.server().await;
        let mut items: Vec<_> = s
            .store
            .queue_list()
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .filter(|item| item.recipients.iter().any(|r| r.address == addr))
            .collect();
        items.sort_by_key(|item| (item.created, item.id));
        Ok(items)
    }

    async fn entries(
        &mut self,
        addr: &str,
        mailbox: &str,
    ) -> Result<Vec<pillarbox_store::Entry>, String> {
        let s = self.server().await;
        let account = s
            .store
            .account(addr)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("no account")?;
        let mb = s
            .store
            .mailbox_by_name(account.id, mailbox)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("no mailbox")?;
        s.store
            .entries(account.id, mb.id)
            .await
            .map_err(|e| e.to_string())
    }
}

/// Matches `line` against `pattern` with `{*}` and `{$name}`.
pub fn matches(pattern: &str, line: &str, caps: &mut Vec<(String, String)>) -> bool {
    if let Some(rest) = pattern.strip_prefix("{*}") {
        for (i, _) in line
            .char_indices()
            .chain(std::iter::once((line.len(), ' ')))
        {
            let mark = caps.len();
            if matches(rest, &line[i..], caps) {
                return true;
            }
            caps.truncate(mark);
        }
        return false;
    }
    if let Some((name, rest)) = pattern
        .strip_prefix("{$")
        .and_then(|r| r.find('}').map(|end| (&r[..end], &r[end + 1..])))
    {
        let token_end = line.find(' ').unwrap_or(line.len());
        for j in (1..=token_end).rev() {
            if !line.is_char_boundary(j) {
                continue;
            }
            let mark = caps.len();
            caps.push((name.to_string(), line[..j].to_string()));
            if matches(rest, &line[j..], caps) {
                return true;
            }
            caps.truncate(mark);
        }
        return false;
    }
    match (pattern.chars().next(), line.chars().next()) {
        (None, None) => true,
        (Some(p), Some(l)) if p == l => {
            matches(&pattern[p.len_utf8()..], &line[l.len_utf8()..], caps)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn wildcard_and_capture() {
        let mut c = Vec::new();
        assert!(matches("+OK {*}", "+OK hello there", &mut c));
        assert!(matches("+OK {$n} messages", "+OK 12 messages", &mut c));
        assert_eq!(c, vec![("n".to_string(), "12".to_string())]);
        assert!(!matches("+OK", "+OK x", &mut Vec::new()));
        assert!(matches("{*}", "", &mut Vec::new()));
        assert!(matches("250-{*}", "250-PIPELINING", &mut Vec::new()));
    }
}
