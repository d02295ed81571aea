//! Deterministic test messages, the same for every server.
//!
//! Corpus message `i` (for the large-mailbox test) is small (≈ 600 octets);
//! its Subject contains [`SUBJECT_WORD`] iff `i % 100 == 0` and its body
//! contains [`BODY_WORD`] iff `i % 1000 == 0`, so the expected SEARCH
//! result sizes are known exactly. Neither word occurs anywhere else.

pub const SUBJECT_WORD: &str = "zebra";
pub const BODY_WORD: &str = "quokka";

const WORDS: [&str; 16] = [
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet",
    "kilo", "lima", "mike", "november", "oscar", "papa",
];

pub fn message(i: u64) -> Vec<u8> {
    let mut m = String::with_capacity(700);
    let s = i % 50;
    m.push_str(&format!("From: Sender {s} <sender{s}@remote.test>\r\n"));
    m.push_str("To: Bench Recipient <rcpt@example.org>\r\n");
    m.push_str(&format!("Subject: Bench message {i}"));
    if i.is_multiple_of(100) {
        m.push(' ');
        m.push_str(SUBJECT_WORD);
    }
    m.push_str("\r\n");
    let (mm, ss) = ((i / 60) % 60, i % 60);
    m.push_str(&format!(
        "Date: Fri, 27 Nov 2026 10:{mm:02}:{ss:02} +0000\r\n"
    ));
    m.push_str(&format!("Message-ID: <bench-{i}@remote.test>\r\n"));
    m.push_str("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n");
    for line in 0..5u64 {
        let mut words = Vec::with_capacity(10);
        for w in 0..10u64 {
            let k = i.wrapping_mul(2654435761).wrapping_add(line * 31 + w * 7) % 16;
            words.push(WORDS[k as usize]);
        }
        m.push_str(&format!(
            "Line {line} of message {i}: {}.\r\n",
            words.join(" ")
        ));
    }
    if i.is_multiple_of(1000) {
        m.push_str(&format!("This one mentions a {BODY_WORD} in passing.\r\n"));
    }
    m.into_bytes()
}

/// How many of corpus messages `start..start+count` a Subject / body
/// search for the special words finds.
pub fn expected_matches(start: u64, count: u64) -> (u64, u64) {
    let multiples = |k: u64| -> u64 {
        let end = start + count; // exclusive
        let upto = |n: u64| if n == 0 { 0 } else { (n - 1) / k + 1 }; // multiples in 0..n
        upto(end) - upto(start)
    };
    (multiples(100), multiples(1000))
}

/// A message of about `size` octets for the mixed load's APPEND.
pub fn sized_message(client: usize, n: u64, size: usize) -> Vec<u8> {
    let mut m = format!(
        "From: Load Client {client} <client{client}@remote.test>\r\n\
         To: <user@example.org>\r\n\
         Subject: Load message {n} from client {client}\r\n\
         Date: Fri, 27 Nov 2026 11:00:00 +0000\r\n\
         Message-ID: <load-{client}-{n}@remote.test>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=us-ascii\r\n\r\n"
    )
    .into_bytes();
    let line = b"The mixed load appends this line again and again to reach its size.\r\n";
    while m.len() + line.len() <= size {
        m.extend_from_slice(line);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has(m: &[u8], w: &str) -> bool {
        m.windows(w.len()).any(|x| x == w.as_bytes())
    }

    #[test]
    fn words_only_where_expected() {
        let (mut subj, mut body) = (0, 0);
        for i in 0..3000 {
            let m = message(i);
            let split = m.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(0);
            let (h, b) = m.split_at(split);
            assert!(!has(b, SUBJECT_WORD));
            assert!(!has(h, BODY_WORD));
            subj += u64::from(has(h, SUBJECT_WORD));
            body += u64::from(has(b, BODY_WORD));
        }
        assert_eq!((subj, body), expected_matches(0, 3000));
        assert_eq!(expected_matches(1, 100), (1, 0));
        assert_eq!(expected_matches(0, 100_000), (1000, 100));
    }

    #[test]
    fn sized() {
        let m = sized_message(3, 7, 2048);
        assert!(m.len() >= 2048 - 80 && m.len() <= 2048, "{}", m.len());
    }
}
