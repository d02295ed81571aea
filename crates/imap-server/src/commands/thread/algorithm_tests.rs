use pillarbox_message::sort_fields::base_subject;

use super::*;

/// Message `seq` sent at `sent`, with a subject, an id and references.
fn msg(seq: u32, sent: i64, subject: &str, id: &str, refs: &[&str]) -> Msg {
    let base = base_subject(subject);
    Msg {
        number: seq,
        seq,
        sent,
        subject: base.text.as_bytes().to_ascii_uppercase(),
        reply: base.reply_or_forward,
        message_id: (!id.is_empty()).then(|| id.to_string()),
        references: refs.iter().map(|r| r.to_string()).collect(),
        in_reply_to: Vec::new(),
    }
}

/// The wire form of the thread lists (as `* THREAD` writes them).
fn render(tokens: &[ThreadToken]) -> String {
    let mut out = String::new();
    let mut prev = None;
    for t in tokens {
        if matches!(prev, Some(ThreadToken::Number(_)))
            && matches!(t, ThreadToken::Number(_) | ThreadToken::Open)
        {
            out.push(' ');
        }
        match t {
            ThreadToken::Open => out.push('('),
            ThreadToken::Close => out.push(')'),
            ThreadToken::Number(n) => out.push_str(&n.to_string()),
        }
        prev = Some(*t);
    }
    out
}

fn refs(msgs: &[Msg]) -> String {
    render(&references(msgs))
}

#[test]
fn ordered_subject_groups_by_base_subject_and_date() {
    let msgs = [
        msg(1, 10, "A", "", &[]),
        msg(2, 20, "Re: A", "", &[]),
        msg(3, 5, "B", "", &[]),
        msg(4, 30, "re: [list] a", "", &[]),
        msg(5, 6, "Fwd: B", "", &[]),
        msg(6, 1, "C", "", &[]),
        // Same date as 1: the sequence number decides.
        msg(7, 10, "A (fwd)", "", &[]),
    ];
    assert_eq!(render(&ordered_subject(&msgs)), "(6)(3 5)(1 (7)(2)(4))");
    assert_eq!(render(&ordered_subject(&[])), "");
}

#[test]
fn references_chains_and_siblings() {
    let msgs = [
        msg(1, 1, "topic", "a@x", &[]),
        msg(2, 2, "Re: topic", "b@x", &["a@x"]),
        msg(3, 3, "Re: topic", "c@x", &["a@x", "b@x"]),
        msg(4, 4, "Re: topic", "d@x", &["a@x"]),
        msg(5, 5, "other", "e@x", &[]),
    ];
    assert_eq!(refs(&msgs), "(1 (2 3)(4))(5)");
}

#[test]
fn references_siblings_sorted_by_sent_date() {
    let msgs = [
        msg(1, 1, "t", "a@x", &[]),
        msg(2, 50, "Re: t", "b@x", &["a@x"]),
        msg(3, 30, "Re: t", "c@x", &["a@x"]),
        msg(4, 30, "Re: t", "d@x", &["a@x"]),
    ];
    assert_eq!(refs(&msgs), "(1 (3)(4)(2))");
}

#[test]
fn references_missing_parents_become_dummies() {
    // Two replies to an absent message: a dummy with two children stays
    // at the top level.
    let msgs = [
        msg(1, 1, "Re: gone", "b@x", &["gone@x"]),
        msg(2, 2, "Re: gone", "c@x", &["gone@x"]),
    ];
    assert_eq!(refs(&msgs), "((1)(2))");
    // One reply: the dummy is replaced by its child.
    assert_eq!(refs(&msgs[..1]), "(1)");
    // A missing message inside a chain is spliced out.
    let msgs = [
        msg(1, 1, "t", "a@x", &[]),
        msg(2, 2, "Re: t", "c@x", &["a@x", "missing@x"]),
        msg(3, 3, "Re: t", "d@x", &["a@x", "missing@x"]),
    ];
    assert_eq!(refs(&msgs), "(1 (2)(3))");
}

#[test]
fn references_in_reply_to_when_no_references() {
    let mut reply = msg(2, 2, "Re: t", "b@x", &[]);
    reply.in_reply_to = vec!["not an id".into(), "<a@x>".into()];
    let msgs = [msg(1, 1, "t", "a@x", &[]), reply];
    assert_eq!(refs(&msgs), "(1 2)");
}

#[test]
fn references_subject_grouping() {
    // No headers linking them: a reply with the same base subject joins
    // the original; two originals get a dummy parent.
    let msgs = [
        msg(1, 1, "Hello", "a@x", &[]),
        msg(2, 2, "Re: Hello", "b@x", &[]),
        msg(3, 3, "Other", "c@x", &[]),
        msg(4, 4, "Other", "d@x", &[]),
        msg(5, 5, "", "e@x", &[]),
        msg(6, 6, "", "f@x", &[]),
    ];
    assert_eq!(refs(&msgs), "(1 2)((3)(4))(5)(6)");
    // A reply sent before the original still goes below it.
    let msgs = [
        msg(1, 5, "Re: Hello", "b@x", &[]),
        msg(2, 9, "Hello", "a@x", &[]),
    ];
    assert_eq!(refs(&msgs), "(2 1)");
}

#[test]
fn references_loops_are_not_created() {
    let msgs = [
        msg(1, 1, "x", "a@x", &["b@x"]),
        msg(2, 2, "y", "b@x", &["a@x"]),
    ];
    assert_eq!(refs(&msgs), "(2 1)");
    // A message referencing itself.
    let msgs = [msg(1, 1, "x", "a@x", &["a@x"])];
    assert_eq!(refs(&msgs), "(1)");
    // References that loop among themselves.
    let msgs = [
        msg(1, 1, "x", "a@x", &["p@x", "q@x", "p@x"]),
        msg(2, 2, "y", "b@x", &[]),
    ];
    assert_eq!(refs(&msgs), "(1)(2)");
}

#[test]
fn references_duplicate_message_ids() {
    // The second "a@x" gets a unique id; replies go to the first.
    let msgs = [
        msg(1, 1, "one", "a@x", &[]),
        msg(2, 2, "two", "a@x", &[]),
        msg(3, 3, "Re: one", "c@x", &["a@x"]),
    ];
    assert_eq!(refs(&msgs), "(1 3)(2)");
}

#[test]
fn references_truncated_references_reparent() {
    // 3 first appears (via 2's references) under nothing; 3's own
    // References then place it below 1.
    let msgs = [
        msg(1, 1, "t", "a@x", &[]),
        msg(2, 3, "Re: t", "b@x", &["c@x"]),
        msg(3, 2, "Re: t", "c@x", &["a@x"]),
    ];
    assert_eq!(refs(&msgs), "(1 3 2)");
}

#[test]
fn message_ids_are_normalised() {
    assert_eq!(
        normalize_id("<\"01KF8JCEOCBS0045PS\"@xxx.yyy.com>").as_deref(),
        Some("01KF8JCEOCBS0045PS@xxx.yyy.com")
    );
    assert_eq!(
        normalize_id("01KF8JCEOCBS0045PS@xxx.yyy.com").as_deref(),
        Some("01KF8JCEOCBS0045PS@xxx.yyy.com")
    );
    assert_eq!(normalize_id("  "), None);
    assert_eq!(normalize_id("a b@c"), None);
    let msgs = [
        msg(1, 1, "t", "\"q\"@x", &[]),
        msg(2, 2, "u", "b@x", &["<q@x>"]),
    ];
    assert_eq!(refs(&msgs), "(1 2)");
}

#[test]
fn deep_chains_do_not_recurse() {
    const N: u32 = 100_000;
    let msgs: Vec<Msg> = (1..=N)
        .map(|i| {
            let prev = format!("m{}@x", i - 1);
            let refs: Vec<&str> = if i > 1 { vec![prev.as_str()] } else { vec![] };
            msg(i, i64::from(i), "Re: deep", &format!("m{i}@x"), &refs)
        })
        .collect();
    let tokens = references(&msgs);
    assert_eq!(tokens.len(), N as usize + 2);
    assert_eq!(tokens[1], ThreadToken::Number(1));
    assert_eq!(tokens[N as usize], ThreadToken::Number(N));
}

/// D-deep chain, then K messages whose own node already has a child (an
/// earlier message referenced it) and that reply to the chain's bottom:
/// each loop check walks the whole chain, D x K steps without a bound.
fn crafted_deep_replies(d: u32, k: u32) -> Vec<Msg> {
    let mut msgs = Vec::new();
    let mut seq = 0;
    for i in 0..d {
        seq += 1;
        let prev = format!("c{}@x", i.wrapping_sub(1));
        let r: Vec<&str> = if i > 0 { vec![prev.as_str()] } else { vec![] };
        msgs.push(msg(seq, i64::from(seq), "a", &format!("c{i}@x"), &r));
    }
    for i in 0..k {
        seq += 1;
        let p = format!("p{i}@x");
        msgs.push(msg(seq, i64::from(seq), "b", &format!("q{i}@x"), &[&p]));
    }
    let bottom = format!("c{}@x", d - 1);
    for i in 0..k {
        seq += 1;
        msgs.push(msg(
            seq,
            i64::from(seq),
            "c",
            &format!("p{i}@x"),
            &[&bottom],
        ));
    }
    msgs
}

#[test]
fn loop_checks_are_bounded() {
    let msgs = crafted_deep_replies(50, 4);
    // With budget to spare: every p{i} goes below the chain's bottom.
    let chain: Vec<String> = (1..=50).map(|i| i.to_string()).collect();
    assert_eq!(
        render(&references(&msgs)),
        format!("({} (55 51)(56 52)(57 53)(58 54))", chain.join(" "))
    );
    // A spent budget refuses the unproven links (no loop, no unbounded
    // walk): the p{i} stay thread roots, each with its q{i} (and then
    // share a dummy by subject).
    assert_eq!(
        render(&references_bounded(&msgs, 10)),
        format!("({})((55 51)(56 52)(57 53)(58 54))", chain.join(" "))
    );
    // The crafted quadratic case finishes within the budget.
    let t = std::time::Instant::now();
    let _ = references(&crafted_deep_replies(20_000, 20_000));
    assert!(t.elapsed() < std::time::Duration::from_secs(60));
}
