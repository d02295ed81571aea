//! SCRAM-SHA-256-PLUS (RFC 5802 §6, RFC 9266) with a fixed binding value:
//! gs2 header rules, downgrade detection, binding mismatch.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use pillarbox_session::ChannelBindings;
use sha2::{Digest, Sha256};

use crate::password::hmac;
use crate::*;

const BINDING: [u8; 32] = [0x5a; 32];

fn bindings() -> ChannelBindings {
    ChannelBindings {
        tls_exporter: Some(BINDING.to_vec()),
    }
}

/// The client side: `client-final-message` for `cbind_input` (the gs2
/// header followed by the binding data the client sees).
fn client_final(
    password: &str,
    first_bare: &str,
    server_first: &str,
    cbind_input: &[u8],
) -> String {
    let attr = |p: &str| {
        server_first
            .split(',')
            .find_map(|a| a.strip_prefix(p))
            .unwrap()
            .to_string()
    };
    let salt = STANDARD.decode(attr("s=")).unwrap();
    let mut salted = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(
        password.as_bytes(),
        &salt,
        attr("i=").parse().unwrap(),
        &mut salted,
    );
    let client_key = hmac(&salted, b"Client Key");
    let stored: [u8; 32] = Sha256::digest(client_key).into();
    let without_proof = format!("c={},r={}", STANDARD.encode(cbind_input), attr("r="));
    let auth = format!("{first_bare},{server_first},{without_proof}");
    let sig = hmac(&stored, auth.as_bytes());
    let proof: Vec<u8> = client_key.iter().zip(sig).map(|(a, b)| a ^ b).collect();
    format!("{without_proof},p={}", STANDARD.encode(proof))
}

/// Runs a whole exchange on a TLS connection with [`bindings`]; `client_cb`
/// is the binding data the client appends after its gs2 header.
fn run(mechanism: Mechanism, gs2: &str, client_cb: &[u8], password: &str) -> Step {
    let c = hash_password("pencil");
    let mut ex = Exchange::with_nonce_and_bindings(mechanism, "srvnonce", &bindings());
    let first_bare = "n=user,r=clinonce";
    match ex.start(Some(format!("{gs2}{first_bare}").as_bytes())) {
        Step::NeedCredentials { .. } => {}
        other => return other,
    }
    let Step::Challenge(sf) = ex.credentials(Some(Credentials {
        password_hash: &c.password_hash,
        scram_sha256: Some(&c.scram_sha256),
    })) else {
        panic!("expected server-first");
    };
    let sf = String::from_utf8(sf).unwrap();
    let mut cbind_input = gs2.as_bytes().to_vec();
    cbind_input.extend_from_slice(client_cb);
    match ex.respond(client_final(password, first_bare, &sf, &cbind_input).as_bytes()) {
        Step::Challenge(v) => {
            assert!(v.starts_with(b"v="));
            ex.respond(b"")
        }
        other => other,
    }
}

#[test]
fn plus_with_matching_tls_exporter_binding_succeeds() {
    let step = run(
        Mechanism::ScramSha256Plus,
        "p=tls-exporter,,",
        &BINDING,
        "pencil",
    );
    assert!(
        matches!(step, Step::Done { ref authcid, .. } if authcid == "user"),
        "{step:?}"
    );
    let step = run(
        Mechanism::ScramSha256Plus,
        "p=tls-exporter,a=user,",
        &BINDING,
        "pencil",
    );
    assert!(matches!(step, Step::Done { .. }), "{step:?}");
}

#[test]
fn plus_with_a_different_binding_is_an_authentication_failure() {
    // A man in the middle terminates TLS: the client sees another channel.
    let step = run(
        Mechanism::ScramSha256Plus,
        "p=tls-exporter,,",
        &[0xa5; 32],
        "pencil",
    );
    assert_eq!(step, Step::Fail(Failure::BadCredentials));
    // No binding data at all after a p= header.
    let step = run(
        Mechanism::ScramSha256Plus,
        "p=tls-exporter,,",
        &[],
        "pencil",
    );
    assert_eq!(step, Step::Fail(Failure::BadCredentials));
    // Right binding, wrong password.
    let step = run(
        Mechanism::ScramSha256Plus,
        "p=tls-exporter,,",
        &BINDING,
        "pen",
    );
    assert_eq!(step, Step::Fail(Failure::BadCredentials));
}

#[test]
fn plus_requires_a_binding_flag_and_a_supported_type() {
    // RFC 5802 §6: "n" and "y" are not valid with a -PLUS mechanism.
    for gs2 in ["n,,", "y,,"] {
        assert_eq!(
            run(Mechanism::ScramSha256Plus, gs2, &[], "pencil"),
            Step::Fail(Failure::ChannelBindingUnsupported),
            "{gs2}"
        );
    }
    // Types we cannot provide: tls-unique (not defined for TLS 1.3) and
    // tls-server-end-point (not computed).
    for gs2 in ["p=tls-unique,,", "p=tls-server-end-point,,"] {
        assert_eq!(
            run(Mechanism::ScramSha256Plus, gs2, &BINDING, "pencil"),
            Step::Fail(Failure::ChannelBindingUnsupported),
            "{gs2}"
        );
    }
}

#[test]
fn non_plus_on_a_tls_connection() {
    // "n": the client does not do channel binding: fine.
    assert!(matches!(
        run(Mechanism::ScramSha256, "n,,", &[], "pencil"),
        Step::Done { .. }
    ));
    // "y" while we advertise -PLUS: a downgrade (RFC 5802 §6).
    assert_eq!(
        run(Mechanism::ScramSha256, "y,,", &[], "pencil"),
        Step::Fail(Failure::Downgrade)
    );
    // "p=" on the mechanism without -PLUS is an error.
    assert_eq!(
        run(
            Mechanism::ScramSha256,
            "p=tls-exporter,,",
            &BINDING,
            "pencil"
        ),
        Step::Fail(Failure::ChannelBindingUnsupported)
    );
}

#[test]
fn without_tls_plus_is_neither_offered_nor_accepted_and_y_is_fine() {
    let offered: Vec<_> = Mechanism::offered(None).collect();
    assert!(!offered.contains(&Mechanism::ScramSha256Plus));
    let empty = ChannelBindings::default();
    assert!(!Mechanism::offered(Some(&empty)).any(|m| m == Mechanism::ScramSha256Plus));
    assert_eq!(
        Mechanism::offered(Some(&bindings())).next(),
        Some(Mechanism::ScramSha256Plus)
    );
    let mut ex = Exchange::new(Mechanism::ScramSha256Plus);
    assert_eq!(
        ex.start(None),
        Step::Fail(Failure::ChannelBindingUnsupported)
    );
    let mut ex = Exchange::for_connection(Mechanism::ScramSha256Plus, Some(&empty));
    assert_eq!(
        ex.start(Some(b"p=tls-exporter,,n=user,r=a")),
        Step::Fail(Failure::ChannelBindingUnsupported)
    );
    // "y" without -PLUS on offer: no downgrade, the exchange proceeds.
    let mut ex = Exchange::new(Mechanism::ScramSha256);
    assert!(matches!(
        ex.start(Some(b"y,,n=user,r=a")),
        Step::NeedCredentials { .. }
    ));
}

#[test]
fn plus_name() {
    assert_eq!(
        Mechanism::from_name("scram-sha-256-plus"),
        Some(Mechanism::ScramSha256Plus)
    );
    assert_eq!(Mechanism::ScramSha256Plus.name(), "SCRAM-SHA-256-PLUS");
}
