//! `pillarbox dns DOMAIN`: the DNS records a domain needs so that its mail
//! reaches this server, its outbound mail authenticates, and clients find
//! their settings — printed in zone-file syntax (RFC 1035 §5) with
//! comments, from the configuration and the domain's DKIM keys.
//!
//! Choices documented here:
//! - One MX, the configured `hostname`; every record names it.
//! - SPF (RFC 7208) is one merged record (§3.2: a domain must not publish
//!   two): `mx` (this server sends what it receives for), plus the
//!   smarthost (`[[queue.route]] domain = "*"`) when one is configured, as
//!   `ip4:`/`ip6:` for an address or `a:` for a name; then `-all`. The
//!   hard fail is deliberate: all of the domain's mail leaves through this
//!   server, signed; a domain that also sends from elsewhere adds those
//!   hosts, or uses `~all` while moving.
//! - DKIM: one TXT per stored key (RFC 6376 §3.6.2.2), old keys included
//!   (they verify messages still in transit), strings split at 255
//!   octets (RFC 1035 §3.3.14), multi-string values in parentheses.
//! - DMARC (RFC 7489): `p=quarantine` with aggregate reports to
//!   `postmaster@DOMAIN` — every message we send is DKIM-signed and
//!   aligned, so only forgeries are quarantined.
//! - MTA-STS (RFC 8461): the `_mta-sts` TXT record, whose `id` is derived
//!   from the policy text so it changes exactly when the policy does, and
//!   the policy file to serve (Pillarbox does not serve HTTPS). `mode` is
//!   `enforce` when a certificate is configured (`tls.cert`), `testing`
//!   with the generated self-signed one, which senders would refuse.
//! - TLS-RPT (RFC 8460) reports to `postmaster@DOMAIN`.
//! - RFC 6186 SRV records for the submission, IMAP and POP3 listeners
//!   found in the configuration, with their ports; a service without a
//!   listener gets the target `.` ("not available", RFC 6186 §4; RFC 2782).
//!   Listeners on loopback addresses are flagged: nobody outside can
//!   reach them.
//! - Autoconfig/autodiscover names are printed as commented-out hints:
//!   they only help with a web server serving the settings files, which
//!   Pillarbox does not do.

use std::fmt::Write;
use std::net::{IpAddr, SocketAddr};

use pillarbox_store::{DkimKey, Store};
use sha2::{Digest, Sha256};

use crate::admin::{AdminError, normalize_domain};
use crate::config::{Config, Protocol, TlsMode};

/// Time to live written on every record, in seconds.
const TTL: u32 = 3600;

/// One DKIM key as published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    pub selector: String,
    /// `ed25519-sha256` or `rsa-sha256`.
    pub algorithm: String,
    /// The `v=DKIM1; ...` value.
    pub value: String,
    /// Whether the key signs new messages (the newest of its algorithm).
    pub signing: bool,
}

/// Everything the records are made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordInput {
    pub domain: String,
    /// This server's host name (the MX target).
    pub hostname: String,
    /// The smarthost (`queue.route` for `*`), if any.
    pub smarthost: Option<String>,
    /// Whether a real certificate is configured (MTA-STS `enforce`).
    pub certificate_configured: bool,
    /// `(protocol, tls, address)` of each listener.
    pub listeners: Vec<(Protocol, TlsMode, SocketAddr)>,
    pub keys: Vec<KeyRecord>,
}

/// A zone-file `<character-string>` list for a TXT value: quoted strings
/// of at most 255 octets (RFC 1035 §3.3.14), in parentheses across lines
/// when there are several.
pub fn txt_strings(value: &str) -> String {
    let quoted: Vec<String> = value
        .as_bytes()
        .chunks(255)
        .map(|chunk| {
            let text = String::from_utf8_lossy(chunk);
            format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
        })
        .collect();
    match quoted.len() {
        0 => "\"\"".to_string(),
        1 => quoted.concat(),
        _ => format!("( {} )", quoted.join("\n        ")),
    }
}

fn record_line(name: &str, rtype: &str, data: &str) -> String {
    format!("{name:<40} {TTL} IN {rtype:<5} {data}")
}

fn record(out: &mut String, name: &str, rtype: &str, data: &str) {
    let _ = writeln!(out, "{}", record_line(name, rtype, data));
}

fn fqdn(name: &str) -> String {
    format!("{}.", name.trim_end_matches('.'))
}

/// The merged SPF record (see the module documentation).
pub fn spf_record(smarthost: Option<&str>) -> String {
    let mut spf = String::from("v=spf1 mx");
    if let Some(host) = smarthost {
        match host.parse::<IpAddr>() {
            Ok(IpAddr::V4(ip)) => {
                let _ = write!(spf, " ip4:{ip}");
            }
            Ok(IpAddr::V6(ip)) => {
                let _ = write!(spf, " ip6:{ip}");
            }
            Err(_) => {
                let _ = write!(spf, " a:{}", host.trim_end_matches('.'));
            }
        }
    }
    spf.push_str(" -all");
    spf
}

/// The MTA-STS policy file (RFC 8461 §3.2), CRLF line endings.
pub fn mta_sts_policy(hostname: &str, enforce: bool) -> String {
    let mode = if enforce { "enforce" } else { "testing" };
    format!("version: STSv1\r\nmode: {mode}\r\nmx: {hostname}\r\nmax_age: 604800\r\n")
}

/// RFC 8461 §3.1: `id` is 1 to 32 letters and digits; this one is taken
/// from the policy's SHA-256, so it changes whenever the policy does.
pub fn mta_sts_id(policy: &str) -> String {
    hex::encode(&Sha256::digest(policy.as_bytes())[..10])
}

/// The RFC 6186 services: SRV label, protocol, TLS mode, standard port.
const SERVICES: &[(&str, Protocol, TlsMode, u16)] = &[
    (
        "_submissions._tcp",
        Protocol::Submission,
        TlsMode::Implicit,
        465,
    ),
    (
        "_submission._tcp",
        Protocol::Submission,
        TlsMode::Starttls,
        587,
    ),
    ("_imaps._tcp", Protocol::Imap, TlsMode::Implicit, 993),
    ("_imap._tcp", Protocol::Imap, TlsMode::Starttls, 143),
    ("_pop3s._tcp", Protocol::Pop3, TlsMode::Implicit, 995),
    ("_pop3._tcp", Protocol::Pop3, TlsMode::Starttls, 110),
];

/// The whole zone-file text.
pub fn format_records(input: &RecordInput) -> String {
    let d = &input.domain;
    let host = fqdn(&input.hostname);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "; DNS records for {d}, served by {} (printed by `pillarbox dns {d}`).",
        input.hostname
    );
    let _ = writeln!(
        out,
        "; Zone-file syntax; names are absolute. {host} itself needs A/AAAA records\n\
         ; and a matching PTR record for its addresses."
    );
    if !input.hostname.contains('.') {
        let _ = writeln!(
            out,
            "; WARNING: hostname {:?} is not a public name: set `hostname` in the\n\
             ; configuration to this server's DNS name before publishing these.",
            input.hostname
        );
    }

    let _ = writeln!(out, "\n; Mail for {d} is delivered here (RFC 5321 §5.1).");
    record(&mut out, &fqdn(d), "MX", &format!("10 {host}"));
    if let Some((_, _, addr)) = input
        .listeners
        .iter()
        .find(|(p, _, _)| *p == Protocol::Smtp)
        && addr.port() != 25
    {
        let _ = writeln!(
            out,
            "; NOTE: the smtp listener is on port {}; other servers deliver to port 25.",
            addr.port()
        );
    }

    let _ = writeln!(
        out,
        "\n; SPF (RFC 7208): one record; only this server{} sends for {d}.",
        if input.smarthost.is_some() {
            " and the smarthost"
        } else {
            ""
        }
    );
    record(
        &mut out,
        &fqdn(d),
        "TXT",
        &txt_strings(&spf_record(input.smarthost.as_deref())),
    );

    let _ = writeln!(
        out,
        "\n; DKIM (RFC 6376; Ed25519: RFC 8463): one record per key."
    );
    if input.keys.is_empty() {
        let _ = writeln!(
            out,
            "; {d} has no DKIM key: create them with `pillarbox domain dkim {d}`."
        );
    }
    for key in &input.keys {
        let _ = writeln!(
            out,
            "; selector {} ({}){}",
            key.selector,
            key.algorithm,
            if key.signing {
                ", signs new mail"
            } else {
                ", older key: keep until mail signed with it is delivered"
            }
        );
        record(
            &mut out,
            &fqdn(&format!("{}._domainkey.{d}", key.selector)),
            "TXT",
            &txt_strings(&key.value),
        );
    }

    let _ = writeln!(
        out,
        "\n; DMARC (RFC 7489): mail failing SPF and DKIM alignment is quarantined;\n\
         ; aggregate reports go to postmaster@{d}."
    );
    record(
        &mut out,
        &fqdn(&format!("_dmarc.{d}")),
        "TXT",
        &txt_strings(&format!(
            "v=DMARC1; p=quarantine; rua=mailto:postmaster@{d}"
        )),
    );

    let policy = mta_sts_policy(&input.hostname, input.certificate_configured);
    let _ = writeln!(
        out,
        "\n; MTA-STS (RFC 8461): senders require TLS to {}; the id changes with the policy.",
        input.hostname
    );
    record(
        &mut out,
        &fqdn(&format!("_mta-sts.{d}")),
        "TXT",
        &txt_strings(&format!("v=STSv1; id={}", mta_sts_id(&policy))),
    );
    record(&mut out, &fqdn(&format!("mta-sts.{d}")), "CNAME", &host);
    let _ = writeln!(
        out,
        "; Serve this file at https://mta-sts.{d}/.well-known/mta-sts.txt\n\
         ; (a web server with a valid certificate for mta-sts.{d}):"
    );
    for line in policy.lines() {
        let _ = writeln!(out, ";   {line}");
    }
    if !input.certificate_configured {
        let _ = writeln!(
            out,
            "; mode is testing: with the generated self-signed certificate senders\n\
             ; would refuse to deliver; set tls.cert/tls.key, then mode: enforce."
        );
    }

    let _ = writeln!(
        out,
        "\n; SMTP TLS reporting (RFC 8460): daily reports of TLS failures."
    );
    record(
        &mut out,
        &fqdn(&format!("_smtp._tls.{d}")),
        "TXT",
        &txt_strings(&format!("v=TLSRPTv1; rua=mailto:postmaster@{d}")),
    );

    let _ = writeln!(
        out,
        "\n; Client settings (RFC 6186 SRV): priority weight port target; target \".\"\n\
         ; means the service is not offered."
    );
    for (label, protocol, tls, standard) in SERVICES {
        let name = fqdn(&format!("{label}.{d}"));
        let listener = input
            .listeners
            .iter()
            .find(|(p, t, _)| p == protocol && t == tls)
            .map(|(_, _, addr)| *addr);
        match listener {
            Some(addr) => {
                record(
                    &mut out,
                    &name,
                    "SRV",
                    &format!("0 1 {} {host}", addr.port()),
                );
                if addr.ip().is_loopback() {
                    let _ = writeln!(
                        out,
                        "; NOTE: this listener is on {addr}, unreachable from other hosts."
                    );
                } else if addr.port() != *standard {
                    let _ = writeln!(
                        out,
                        "; NOTE: not the standard port {standard}; some clients only try that."
                    );
                }
            }
            None => record(&mut out, &name, "SRV", "0 0 0 ."),
        }
    }

    let _ = writeln!(
        out,
        "\n; Autoconfiguration hints. Clients without RFC 6186 fetch a settings file:\n\
         ; Thunderbird from https://autoconfig.{d}/mail/config-v1.1.xml, Outlook\n\
         ; from autodiscover.{d} or the host in _autodiscover._tcp. Pillarbox does\n\
         ; not serve these files: publish these names only with a web server that does."
    );
    let _ = writeln!(
        out,
        ";{}",
        record_line(&fqdn(&format!("autoconfig.{d}")), "CNAME", &host)
    );
    let _ = writeln!(
        out,
        ";{}",
        record_line(&fqdn(&format!("autodiscover.{d}")), "CNAME", &host)
    );
    let _ = writeln!(
        out,
        ";{}",
        record_line(
            &fqdn(&format!("_autodiscover._tcp.{d}")),
            "SRV",
            &format!("0 1 443 {host}"),
        )
    );
    out
}

/// The key records of `keys` (oldest first), marking the newest key of
/// each algorithm as the signing one.
pub fn key_records(keys: &[DkimKey]) -> Result<Vec<KeyRecord>, AdminError> {
    let mut records = Vec::with_capacity(keys.len());
    for (i, key) in keys.iter().enumerate() {
        let value = pillarbox_dkim::dkim_record(key.algorithm, &key.private_key)?;
        let signing = !keys[i + 1..].iter().any(|k| k.algorithm == key.algorithm);
        records.push(KeyRecord {
            selector: key.selector.clone(),
            algorithm: key.algorithm.as_str().to_string(),
            value,
            signing,
        });
    }
    Ok(records)
}

/// The records for `domain` (`Invalid` "unknown domain" if we do not have it).
pub async fn records(store: &Store, config: &Config, domain: &str) -> Result<String, AdminError> {
    let domain = normalize_domain(domain)?;
    if store.domain(&domain).await?.is_none() {
        return Err(AdminError::Invalid(format!(
            "unknown domain {domain} (add it with `pillarbox domain add {domain}`)"
        )));
    }
    let keys = key_records(&store.dkim_keys(&domain).await?)?;
    let input = RecordInput {
        domain,
        hostname: config.hostname.clone(),
        smarthost: config
            .queue
            .routes
            .iter()
            .find(|r| r.domain == "*")
            .map(|r| r.host.clone()),
        certificate_configured: config.tls.cert.is_some(),
        listeners: config
            .listeners
            .iter()
            .map(|l| (l.protocol, l.tls, l.address))
            .collect(),
        keys,
    };
    Ok(format_records(&input))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> RecordInput {
        let l = |p, t, a: &str| (p, t, a.parse().expect("addr"));
        RecordInput {
            domain: "example.org".into(),
            hostname: "mail.example.org".into(),
            smarthost: None,
            certificate_configured: true,
            listeners: vec![
                l(Protocol::Smtp, TlsMode::Starttls, "0.0.0.0:25"),
                l(Protocol::Submission, TlsMode::Implicit, "0.0.0.0:465"),
                l(Protocol::Submission, TlsMode::Starttls, "0.0.0.0:587"),
                l(Protocol::Imap, TlsMode::Implicit, "[::]:993"),
                l(Protocol::Imap, TlsMode::Starttls, "127.0.0.1:1143"),
            ],
            keys: vec![
                KeyRecord {
                    selector: "pbx-ed-20261127".into(),
                    algorithm: "ed25519-sha256".into(),
                    value: "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
                        .into(),
                    signing: true,
                },
                KeyRecord {
                    selector: "pbx-rsa-20261127".into(),
                    algorithm: "rsa-sha256".into(),
                    value: format!("v=DKIM1; k=rsa; p={}", "A".repeat(392)),
                    signing: true,
                },
            ],
        }
    }

    /// The data of the records named `name` (one line each; a multi-line
    /// TXT value joined).
    fn data_of(text: &str, name: &str) -> Vec<String> {
        let joined = text.replace("\n        ", " ");
        joined
            .lines()
            .filter(|l| !l.starts_with(';'))
            .filter_map(|l| {
                let mut parts = l.splitn(2, ' ');
                (parts.next() == Some(name)).then(|| parts.next().unwrap_or("").trim().to_string())
            })
            .collect()
    }

    #[test]
    fn txt_values_are_split_at_255_octets() {
        assert_eq!(txt_strings("v=spf1 mx -all"), "\"v=spf1 mx -all\"");
        let long = "x".repeat(300);
        assert_eq!(
            txt_strings(&long),
            format!(
                "( \"{}\"\n        \"{}\" )",
                "x".repeat(255),
                "x".repeat(45)
            )
        );
        assert_eq!(txt_strings("a\"b\\c"), "\"a\\\"b\\\\c\"");
    }

    #[test]
    fn every_record_is_there() {
        let text = format_records(&input());
        assert_eq!(
            data_of(&text, "example.org."),
            [
                "3600 IN MX    10 mail.example.org.",
                "3600 IN TXT   \"v=spf1 mx -all\""
            ]
        );
        assert_eq!(
            data_of(&text, "pbx-ed-20261127._domainkey.example.org."),
            [
                "3600 IN TXT   \"v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\""
            ]
        );
        let rsa = &data_of(&text, "pbx-rsa-20261127._domainkey.example.org.")[0];
        let expected_first = format!("v=DKIM1; k=rsa; p={}", "A".repeat(255 - 18));
        assert!(
            rsa.starts_with(&format!("3600 IN TXT   ( \"{expected_first}\" \"")),
            "{rsa}"
        );
        assert_eq!(
            data_of(&text, "_dmarc.example.org."),
            ["3600 IN TXT   \"v=DMARC1; p=quarantine; rua=mailto:postmaster@example.org\""]
        );
        let policy = mta_sts_policy("mail.example.org", true);
        assert_eq!(
            data_of(&text, "_mta-sts.example.org."),
            [format!(
                "3600 IN TXT   \"v=STSv1; id={}\"",
                mta_sts_id(&policy)
            )]
        );
        assert!(text.contains(";   mode: enforce\n;   mx: mail.example.org\n"));
        assert!(text.contains("https://mta-sts.example.org/.well-known/mta-sts.txt"));
        assert_eq!(
            data_of(&text, "_smtp._tls.example.org."),
            ["3600 IN TXT   \"v=TLSRPTv1; rua=mailto:postmaster@example.org\""]
        );
        for (name, data) in [
            (
                "_submissions._tcp.example.org.",
                "0 1 465 mail.example.org.",
            ),
            ("_submission._tcp.example.org.", "0 1 587 mail.example.org."),
            ("_imaps._tcp.example.org.", "0 1 993 mail.example.org."),
            ("_imap._tcp.example.org.", "0 1 1143 mail.example.org."),
            ("_pop3s._tcp.example.org.", "0 0 0 ."),
            ("_pop3._tcp.example.org.", "0 0 0 ."),
        ] {
            assert_eq!(
                data_of(&text, name),
                [format!("3600 IN SRV   {data}")],
                "{name}"
            );
        }
        assert!(text.contains("this listener is on 127.0.0.1:1143, unreachable"));
        assert!(text.contains(
            "\n;autoconfig.example.org.                  3600 IN CNAME mail.example.org.\n"
        ));
        assert!(text.contains(";_autodiscover._tcp.example.org.          3600 IN SRV   0 1 443"));
        assert!(!text.contains("WARNING"));
        assert!(!text.contains("mode is testing"));
    }

    /// A domain from before DKIM keys existed gets them from
    /// `domain dkim`; rotation adds newer ones that take over signing;
    /// `dns` prints them all and refuses unknown domains.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn old_domains_get_keys_and_their_records() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = crate::server::open_store(dir.path()).expect("store");
        store.create_domain("old.example").await.expect("domain");
        let config = Config::default();
        let text = records(&store, &config, "Old.Example")
            .await
            .expect("records");
        assert!(text.contains("old.example has no DKIM key"), "{text}");

        let made = crate::admin::domain_dkim(&store, "old.example", false)
            .await
            .expect("keys");
        assert_eq!(made.len(), 2);
        assert!(
            crate::admin::domain_dkim(&store, "old.example", false)
                .await
                .expect("nothing missing")
                .is_empty()
        );
        let rotated = crate::admin::domain_dkim(&store, "old.example", true)
            .await
            .expect("rotate");
        let keys =
            key_records(&store.dkim_keys("old.example").await.expect("keys")).expect("records");
        let signing: Vec<&str> = keys
            .iter()
            .filter(|k| k.signing)
            .map(|k| k.selector.as_str())
            .collect();
        let newest: Vec<&str> = rotated.iter().map(|k| k.selector.as_str()).collect();
        assert_eq!(signing, newest, "the rotated keys sign");
        let text = records(&store, &config, "old.example")
            .await
            .expect("records");
        for key in &keys {
            assert_eq!(
                data_of(&text, &format!("{}._domainkey.old.example.", key.selector)).len(),
                1,
                "{}",
                key.selector
            );
        }
        crate::admin::domain_dkim_remove(&store, "old.example", &made[0].selector)
            .await
            .expect("remove");
        assert_eq!(store.dkim_keys("old.example").await.expect("keys").len(), 3);

        let e = records(&store, &config, "new.example")
            .await
            .expect_err("unknown domain");
        assert_eq!(
            e.to_string(),
            "unknown domain new.example (add it with `pillarbox domain add new.example`)"
        );
        assert!(
            crate::admin::domain_dkim(&store, "new.example", false)
                .await
                .is_err()
        );
    }

    #[test]
    fn spf_merges_the_smarthost_and_mta_sts_follows_the_certificate() {
        assert_eq!(spf_record(None), "v=spf1 mx -all");
        assert_eq!(
            spf_record(Some("192.0.2.7")),
            "v=spf1 mx ip4:192.0.2.7 -all"
        );
        assert_eq!(
            spf_record(Some("2001:db8::7")),
            "v=spf1 mx ip6:2001:db8::7 -all"
        );
        assert_eq!(
            spf_record(Some("relay.example.net.")),
            "v=spf1 mx a:relay.example.net -all"
        );
        let mut i = input();
        i.certificate_configured = false;
        i.hostname = "localhost".into();
        i.keys.clear();
        let text = format_records(&i);
        assert!(text.contains(";   mode: testing\n"));
        assert!(text.contains("WARNING: hostname \"localhost\""));
        assert!(
            text.contains("has no DKIM key: create them with `pillarbox domain dkim example.org`")
        );
        assert_ne!(
            mta_sts_id(&mta_sts_policy("mail.example.org", true)),
            mta_sts_id(&mta_sts_policy("mail.example.org", false)),
            "the id changes with the policy"
        );
        let id = mta_sts_id(&mta_sts_policy("mail.example.org", true));
        assert!(id.len() <= 32 && id.bytes().all(|b| b.is_ascii_alphanumeric()));
    }
}
