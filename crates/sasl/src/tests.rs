//! Exchange tests: RFC 7677 vector, PLAIN, LOGIN, failures.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

use crate::password::hmac;
use crate::*;

fn pencil_record() -> String {
    let salt = STANDARD.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
    ScramRecord::derive("pencil", &salt, 4096).encode()
}

fn creds<'a>(phc: &'a str, scram: Option<&'a str>) -> Option<Credentials<'a>> {
    Some(Credentials {
        password_hash: phc,
        scram_sha256: scram,
    })
}

#[test]
fn scram_sha256_rfc7677_vector() {
    // RFC 7677 §3.
    let record = pencil_record();
    let mut ex = Exchange::with_nonce(Mechanism::ScramSha256, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
    assert_eq!(
        ex.start(Some(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO")),
        Step::NeedCredentials {
            authcid: "user".into()
        }
    );
    let Step::Challenge(sf) = ex.credentials(creds("x", Some(&record))) else {
        panic!("expected server-first");
    };
    assert_eq!(
        sf,
        b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    );
    let step = ex.respond(
        b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
    );
    assert_eq!(
        step,
        Step::Challenge(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=".to_vec())
    );
    assert_eq!(
        ex.respond(b""),
        Step::Done {
            authcid: "user".into(),
            authzid: None
        }
    );
}

#[test]
fn scram_wrong_proof_fails() {
    let record = pencil_record();
    let mut ex = Exchange::with_nonce(Mechanism::ScramSha256, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
    ex.start(Some(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"));
    ex.credentials(creds("x", Some(&record)));
    let step = ex.respond(
        b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=eHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
    );
    assert_eq!(step, Step::Fail(Failure::BadCredentials));
}

/// A minimal SCRAM-SHA-256 client, for round trips with random nonces.
fn client_final(password: &str, client_first_bare: &str, server_first: &str, gs2: &str) -> String {
    let mut salt = None;
    let mut iter = 0;
    let mut nonce = "";
    for a in server_first.split(',') {
        if let Some(v) = a.strip_prefix("s=") {
            salt = Some(STANDARD.decode(v).unwrap());
        } else if let Some(v) = a.strip_prefix("i=") {
            iter = v.parse().unwrap();
        } else if let Some(v) = a.strip_prefix("r=") {
            nonce = v;
        }
    }
    let mut salted = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), &salt.unwrap(), iter, &mut salted);
    let client_key = hmac(&salted, b"Client Key");
    let stored: [u8; 32] = Sha256::digest(client_key).into();
    let without_proof = format!("c={},r={}", STANDARD.encode(gs2), nonce);
    let auth = format!("{client_first_bare},{server_first},{without_proof}");
    let sig = hmac(&stored, auth.as_bytes());
    let proof: Vec<u8> = client_key.iter().zip(sig).map(|(a, b)| a ^ b).collect();
    format!("{without_proof},p={}", STANDARD.encode(proof))
}

fn run_scram(record: Option<&str>, password: &str, first: &str, gs2: &str) -> Step {
    let mut ex = Exchange::new(Mechanism::ScramSha256);
    // No initial response: empty challenge first.
    assert_eq!(ex.start(None), Step::Challenge(vec![]));
    let Step::NeedCredentials { .. } = ex.respond(format!("{gs2}{first}").as_bytes()) else {
        panic!("expected NeedCredentials");
    };
    let Step::Challenge(sf) = ex.credentials(record.map(|r| Credentials {
        password_hash: "x",
        scram_sha256: Some(r),
    })) else {
        panic!("expected server-first");
    };
    let sf = String::from_utf8(sf).unwrap();
    match ex.respond(client_final(password, first, &sf, gs2).as_bytes()) {
        Step::Challenge(v) => {
            assert!(v.starts_with(b"v="));
            ex.respond(b"")
        }
        other => other,
    }
}

#[test]
fn scram_round_trip_random_nonce() {
    let c = hash_password("s3cret pass");
    let rec = Some(c.scram_sha256.as_str());
    assert!(matches!(
        run_scram(rec, "s3cret pass", "n=alice@example.org,r=abcdef", "n,,"),
        Step::Done { .. }
    ));
    assert!(matches!(
        run_scram(
            rec,
            "s3cret pass",
            "n=alice@example.org,r=abcdef",
            "y,a=alice@example.org,"
        ),
        Step::Done {
            authzid: Some(_),
            ..
        }
    ));
    assert_eq!(
        run_scram(rec, "wrong", "n=alice@example.org,r=abcdef", "n,,"),
        Step::Fail(Failure::BadCredentials)
    );
}

#[test]
fn scram_unknown_user_runs_to_the_end_then_fails() {
    let mut ex = Exchange::new(Mechanism::ScramSha256);
    ex.start(Some(b"n,,n=nobody,r=abc"));
    let Step::Challenge(sf1) = ex.credentials(None) else {
        panic!()
    };
    let mut ex2 = Exchange::new(Mechanism::ScramSha256);
    ex2.start(Some(b"n,,n=nobody,r=abc"));
    let Step::Challenge(sf2) = ex2.credentials(None) else {
        panic!()
    };
    // Same fake salt each time (only the nonce differs).
    let salt = |m: &[u8]| {
        String::from_utf8(m.to_vec())
            .unwrap()
            .split(',')
            .nth(1)
            .unwrap()
            .to_string()
    };
    assert_eq!(salt(&sf1), salt(&sf2));
    let sf = String::from_utf8(sf1).unwrap();
    let fin = client_final("anything", "n=nobody,r=abc", &sf, "n,,");
    assert_eq!(
        ex.respond(fin.as_bytes()),
        Step::Fail(Failure::BadCredentials)
    );
}

#[test]
fn scram_refusals() {
    let mut ex = Exchange::new(Mechanism::ScramSha256);
    assert_eq!(
        ex.start(Some(b"p=tls-server-end-point,,n=u,r=a")),
        Step::Fail(Failure::ChannelBindingUnsupported)
    );
    let mut ex = Exchange::new(Mechanism::ScramSha256);
    assert_eq!(
        ex.start(Some(b"n,a=admin,n=user,r=a")),
        Step::Fail(Failure::AuthzidRefused)
    );
    // Changed nonce and wrong c= are refused.
    let c = hash_password("pw");
    let mut ex = Exchange::new(Mechanism::ScramSha256);
    ex.start(Some(b"n,,n=u,r=abc"));
    let Step::Challenge(_) = ex.credentials(creds(&c.password_hash, Some(&c.scram_sha256))) else {
        panic!()
    };
    assert_eq!(
        ex.respond(b"c=biws,r=abcXYZ,p=AAAA"),
        Step::Fail(Failure::Malformed)
    );
}

#[test]
fn plain_initial_response() {
    let c = hash_password("secret");
    let mut ex = Exchange::new(Mechanism::Plain);
    assert_eq!(
        ex.start(Some(b"\0alice@example.org\0secret")),
        Step::NeedCredentials {
            authcid: "alice@example.org".into()
        }
    );
    assert_eq!(
        ex.credentials(creds(&c.password_hash, None)),
        Step::Done {
            authcid: "alice@example.org".into(),
            authzid: None
        }
    );
}

#[test]
fn plain_continuation_and_authzid() {
    let c = hash_password("secret");
    let mut ex = Exchange::new(Mechanism::Plain);
    assert_eq!(ex.start(None), Step::Challenge(vec![]));
    assert!(matches!(
        ex.respond(b"Alice@example.org\0alice@example.org\0secret"),
        Step::NeedCredentials { .. }
    ));
    assert!(matches!(
        ex.credentials(creds(&c.password_hash, None)),
        Step::Done {
            authzid: Some(_),
            ..
        }
    ));

    let mut ex = Exchange::new(Mechanism::Plain);
    assert_eq!(
        ex.start(Some(b"bob\0alice\0secret")),
        Step::Fail(Failure::AuthzidRefused)
    );
}

#[test]
fn plain_bad_password_and_unknown_user() {
    let c = hash_password("secret");
    let mut ex = Exchange::new(Mechanism::Plain);
    ex.start(Some(b"\0alice\0wrong"));
    assert_eq!(
        ex.credentials(creds(&c.password_hash, None)),
        Step::Fail(Failure::BadCredentials)
    );
    let mut ex = Exchange::new(Mechanism::Plain);
    ex.start(Some(b"\0nobody\0secret"));
    assert_eq!(ex.credentials(None), Step::Fail(Failure::BadCredentials));
}

#[test]
fn plain_malformed() {
    for bad in [
        &b""[..],
        b"alice\0secret",
        b"\0\0secret",
        b"\0alice\0",
        b"\0alice\0secret\0x",
        b"\0al\xffice\0secret",
    ] {
        let mut ex = Exchange::new(Mechanism::Plain);
        assert_eq!(
            ex.start(Some(bad)),
            Step::Fail(Failure::Malformed),
            "{bad:?}"
        );
    }
    let long = [b"\0a\0".as_slice(), &[b'x'; 256]].concat();
    let mut ex = Exchange::new(Mechanism::Plain);
    assert_eq!(ex.start(Some(&long)), Step::Fail(Failure::Malformed));
}

#[test]
fn login_flow() {
    let c = hash_password("secret");
    let mut ex = Exchange::new(Mechanism::Login);
    assert_eq!(ex.start(None), Step::Challenge(b"Username:".to_vec()));
    assert_eq!(ex.respond(b"alice"), Step::Challenge(b"Password:".to_vec()));
    assert_eq!(
        ex.respond(b"secret"),
        Step::NeedCredentials {
            authcid: "alice".into()
        }
    );
    assert!(matches!(
        ex.credentials(creds(&c.password_hash, None)),
        Step::Done { .. }
    ));

    // Initial response carries the user name.
    let mut ex = Exchange::new(Mechanism::Login);
    assert_eq!(
        ex.start(Some(b"alice")),
        Step::Challenge(b"Password:".to_vec())
    );
    ex.respond(b"wrong");
    assert_eq!(
        ex.credentials(creds(&c.password_hash, None)),
        Step::Fail(Failure::BadCredentials)
    );
}

#[test]
fn out_of_order_calls_fail() {
    let mut ex = Exchange::new(Mechanism::Plain);
    assert_eq!(ex.respond(b"x"), Step::Fail(Failure::Protocol));
    let mut ex = Exchange::new(Mechanism::Plain);
    assert_eq!(ex.credentials(None), Step::Fail(Failure::Protocol));
    let mut ex = Exchange::new(Mechanism::Plain);
    ex.start(Some(b"\0a\0b"));
    assert_eq!(ex.respond(b"x"), Step::Fail(Failure::Protocol));
    assert_eq!(ex.start(None), Step::Fail(Failure::Protocol));
}

#[test]
fn mechanism_names() {
    assert_eq!(Mechanism::from_name("plain"), Some(Mechanism::Plain));
    assert_eq!(
        Mechanism::from_name("scram-sha-256"),
        Some(Mechanism::ScramSha256)
    );
    assert_eq!(Mechanism::from_name("CRAM-MD5"), None);
}
