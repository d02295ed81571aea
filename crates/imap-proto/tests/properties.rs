//! Property tests: command round trips (encode → parse → same), garbage
//! never panics, any split of any input gives the same events, mUTF-7 and
//! sequence set laws.

#![allow(clippy::unwrap_used)]

mod harness;

use harness::strategies::*;
use harness::{Decide, Out, run_with};
use pillarbox_imap_proto::*;
use proptest::collection::vec;
use proptest::prelude::*;

fn outputs_commands(out: &[Out]) -> Vec<Command> {
    out.iter()
        .filter_map(|o| match o {
            Out::Event(Event::Command(c)) => Some(c.clone()),
            Out::Event(Event::LiteralRequest(_)) => None,
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn command_round_trip(cmd in command(), utf8 in any::<bool>(), plus in any::<bool>()) {
        let opts = CommandEncodeOptions { utf8, literal_plus: plus };
        let wire = cmd.to_bytes(opts);
        let parsed = Command::parse(&wire, utf8);
        prop_assert_eq!(parsed.as_ref(), Ok(&cmd), "wire {:?}", String::from_utf8_lossy(&wire));
        let cfg = ParserConfig { utf8, ..ParserConfig::default() };
        // Streaming, whole and one octet at a time.
        for chunk in [0, 1] {
            let out = run_with(&wire, cfg.clone(), chunk, Decide::Accept);
            prop_assert_eq!(outputs_commands(&out), vec![cmd.clone()]);
        }
    }

    #[test]
    fn garbage_never_panics(input in vec(any::<u8>(), 0..400), chunk in 0usize..9, reject in any::<bool>(), plus in any::<bool>()) {
        let cfg = ParserConfig { max_line: 64, max_literal: 32, max_command: 128, max_append: 64, literal_plus: plus, ..ParserConfig::default() };
        let decide = if reject { Decide::Reject } else { Decide::Accept };
        let _ = run_with(&input, cfg, chunk, decide);
    }

    #[test]
    fn imap_like_garbage_never_panics_and_is_split_independent(
        parts in vec(prop_oneof![
            Just("a ".to_string()), Just("APPEND ".into()), Just("INBOX ".into()), Just("{3}\r\n".into()),
            Just("{2+}\r\n".into()), Just("~{1+}\r\n".into()), Just("UTF8 (".into()), Just(")".into()),
            Just("(".into()), Just("\r\n".into()), Just("\n".into()), Just("\"".into()), Just("\\".into()),
            Just("FETCH 1:* ".into()), Just("BODY[".into()), Just("SEARCH ".into()), Just("OR ".into()),
            Just("NOT ".into()), Just("IDLE\r\n".into()), Just("DONE\r\n".into()), Just("]".into()),
            Just("<0.5>".into()), Just("*".into()), Just("$".into()), Just(" ".into()), Just("\0".into()),
            Just("AUTHENTICATE PLAIN\r\n".into()), Just("=".into()), Just("&Jjo-".into()),
            "[ -~]{0,6}",
        ], 0..40),
        chunk in 1usize..7,
        plus in any::<bool>(),
    ) {
        let input: Vec<u8> = parts.concat().into_bytes();
        let cfg = ParserConfig { max_line: 48, max_literal: 16, max_command: 96, max_append: 8, literal_plus: plus, ..ParserConfig::default() };
        let whole = run_with(&input, cfg.clone(), 0, Decide::Accept);
        let split = run_with(&input, cfg, chunk, Decide::Accept);
        prop_assert_eq!(whole, split);
    }

    #[test]
    fn mutf7_round_trip(s in "\\PC{0,20}") {
        let e = encode_utf7(&s);
        prop_assert!(e.bytes().all(|b| (0x20..=0x7e).contains(&b)));
        prop_assert_eq!(decode_utf7(e.as_bytes()), Ok(s));
    }

    #[test]
    fn mutf7_decode_never_panics(b in vec(any::<u8>(), 0..40)) {
        if let Ok(s) = decode_utf7(&b) {
            let e = encode_utf7(&s);
            prop_assert_eq!(e.as_bytes(), &b[..]);
        }
    }

    #[test]
    fn sequence_set_laws(nums in vec(0u32..200, 0..30), max in 0u32..250) {
        let mut want: Vec<u32> = nums.iter().copied().filter(|&n| n >= 1 && n <= max).collect();
        want.sort_unstable();
        want.dedup();
        match SequenceSet::from_numbers(nums.clone()) {
            None => prop_assert!(nums.iter().all(|&n| n == 0)),
            Some(set) => {
                prop_assert_eq!(set.iter(max).collect::<Vec<_>>(), want);
                let again: SequenceSet = set.to_string().parse().unwrap();
                prop_assert_eq!(&again, &set);
            }
        }
    }

    #[test]
    fn sequence_set_display_parses_back(set in seq_set(), max in 0u32..100) {
        let again: SequenceSet = set.to_string().parse().unwrap();
        prop_assert_eq!(&again, &set);
        let resolved: Vec<u32> = set.iter(max).collect();
        prop_assert!(resolved.windows(2).all(|w| w[0] < w[1]));
        prop_assert!(resolved.iter().all(|&n| n >= 1 && n <= max));
        if let Some(n) = set.normalized(max) {
            prop_assert_eq!(n.iter(max).collect::<Vec<_>>(), resolved);
        }
    }

    #[test]
    fn date_time_round_trip(ts in -62_135_596_800i64..253_402_300_799, off in -1439i16..=1439) {
        if let Some(d) = DateTime::from_unix(ts, off) {
            prop_assert_eq!(d.unix_timestamp(), ts);
            prop_assert_eq!(DateTime::parse(&d.to_string()), Some(d));
        }
    }
}
