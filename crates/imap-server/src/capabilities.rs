//! What CAPABILITY advertises: only what works.

/// Capabilities after login (and before it, minus the auth ones).
pub(crate) const BASE: &[&str] = &[
    "IMAP4rev2",
    "IMAP4rev1",
    "LITERAL+",
    "SASL-IR",
    "ENABLE",
    "ID",
    "IDLE",
    "NAMESPACE",
    "UNSELECT",
    "UIDPLUS",
    "MOVE",
    "CHILDREN",
    "SPECIAL-USE",
    "CREATE-SPECIAL-USE",
    "LIST-EXTENDED",
    "LIST-STATUS",
    "ESEARCH",
    "SEARCHRES",
    "WITHIN",
    "CONDSTORE",
    "QRESYNC",
    "STATUS=SIZE",
    "BINARY",
    "MULTIAPPEND",
    "UTF8=ACCEPT",
    "OBJECTID",
    "SAVEDATE",
    // RFC 5256, RFC 5957 (DISPLAYFROM / DISPLAYTO), RFC 5267 §3 ESORT.
    "SORT",
    "SORT=DISPLAY",
    "THREAD=ORDEREDSUBJECT",
    "THREAD=REFERENCES",
    "ESORT",
    // RFC 9208 GETQUOTA/GETQUOTAROOT (RFC 2087 level: QUOTA=RES-STORAGE
    // also needs the STATUS DELETED-STORAGE item, RFC 9208 §5.1).
    "QUOTA",
];

/// SASL mechanisms offered (same as POP3 and submission): SCRAM-SHA-256-PLUS
/// only on connections with TLS channel bindings (RFC 5802 §6).
pub(crate) fn auth(bindings: Option<&pillarbox_session::ChannelBindings>) -> Vec<String> {
    pillarbox_sasl::Mechanism::offered(bindings)
        .map(|m| format!("AUTH={}", m.name()))
        .collect()
}
