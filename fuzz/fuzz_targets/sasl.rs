//! SASL exchanges (PLAIN, LOGIN, SCRAM-SHA-256) with arbitrary client
//! messages, plus the base64 wire decoding and SASLprep.
//!
//! Input: `[flags, messages separated by 0xFF 0xFE...]`. flags selects the
//! mechanism and whether the first message is an initial response. Checks:
//! no panic; every exchange ends within its number of steps; calls out of
//! order fail with `Protocol`; a `Done` authzid equals the authcid.
//!
//! PLAIN/LOGIN stop at `NeedCredentials`: the argon2 check behind it is
//! deliberately slow and is covered by the unit tests. SCRAM gets a real
//! record (1 iteration, so runs stay fast) for the user `user`.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use pillarbox_sasl::{
    Credentials, Exchange, Failure, Mechanism, ScramRecord, Step, decode_initial_response,
    decode_response, prepare_password, prepare_username,
};

fn scram_record() -> &'static str {
    static R: OnceLock<String> = OnceLock::new();
    R.get_or_init(|| ScramRecord::derive("pencil", b"QSXCR+Q6sek8bf92", 1).encode())
}

fuzz_target!(|data: &[u8]| {
    let [flags, rest @ ..] = data else {
        return;
    };
    let mechanism = match flags % 4 {
        0 => Mechanism::Plain,
        1 => Mechanism::Login,
        2 => Mechanism::ScramSha256,
        _ => Mechanism::ScramSha256Plus,
    };
    let mut messages: Vec<&[u8]> = Vec::new();
    let mut tail = rest;
    while let Some(i) = tail.windows(2).position(|w| w == [0xFF, 0xFE]) {
        messages.push(&tail[..i]);
        tail = &tail[i + 2..];
    }
    messages.push(tail);

    for m in &messages {
        let _ = decode_response(m);
        let _ = decode_initial_response(m);
        if let Ok(s) = std::str::from_utf8(m) {
            let _ = prepare_username(s);
            let _ = prepare_password(s);
        }
    }

    // A TLS connection with a tls-exporter binding, or none.
    let bindings = pillarbox_session::ChannelBindings {
        tls_exporter: Some(vec![0x42; 32]),
    };
    let mut ex = Exchange::for_connection(mechanism, (flags & 0x20 != 0).then_some(&bindings));
    let mut msgs = messages.into_iter();
    let mut step = if flags & 0x10 != 0 {
        ex.start(msgs.next())
    } else {
        ex.start(None)
    };
    // Each step consumes one message or ends; no exchange loops.
    for _ in 0..16 {
        step = match step {
            Step::Challenge(_) => match msgs.next() {
                Some(m) => ex.respond(m),
                None => return,
            },
            Step::NeedCredentials { authcid } => {
                assert!(!authcid.is_empty());
                if !matches!(
                    mechanism,
                    Mechanism::ScramSha256 | Mechanism::ScramSha256Plus
                ) {
                    // Out of order while credentials are awaited.
                    assert_eq!(ex.respond(b"x"), Step::Fail(Failure::Protocol));
                    return;
                }
                let record = scram_record();
                let creds = Credentials {
                    password_hash: "",
                    scram_sha256: Some(record),
                };
                ex.credentials((authcid == "user").then_some(creds))
            }
            Step::Done { authcid, authzid } => {
                if let Some(z) = authzid {
                    assert!(z.eq_ignore_ascii_case(&authcid));
                }
                assert!(matches!(ex.respond(b""), Step::Fail(Failure::Protocol)));
                return;
            }
            Step::Fail(_) => {
                assert!(matches!(ex.respond(b""), Step::Fail(Failure::Protocol)));
                return;
            }
        };
    }
    panic!("exchange did not end after 16 steps");
});
