//! Sequence set edge cases (RFC 9051 §9 `sequence-set`, `seq-range`).

#![allow(clippy::unwrap_used)]

use pillarbox_imap_proto::*;

fn set(s: &str) -> SequenceSet {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn resolve(s: &str, max: u32) -> Vec<(u32, u32)> {
    set(s)
        .resolve(max)
        .into_iter()
        .map(|r| (*r.start(), *r.end()))
        .collect()
}

#[test]
fn parse_and_display() {
    for s in [
        "1",
        "1:3",
        "*",
        "3:*",
        "*:3",
        "1,2,3",
        "$",
        "1:*,5",
        "4294967295",
        "7:2,*,1",
    ] {
        assert_eq!(set(s).to_string(), s);
    }
    for bad in [
        "",
        "0",
        "0:3",
        "1:0",
        ",",
        "1,",
        ",1",
        "1::2",
        "a",
        "1:",
        "4294967296",
        "$,1",
        "1,$",
        "-1",
        "1 ",
        "01",
    ] {
        assert!(bad.parse::<SequenceSet>().is_err(), "{bad:?} parsed");
    }
}

#[test]
fn star_and_reversed_ranges() {
    // RFC 9051: "5:*" in a mailbox whose largest number is 3 is "3:5".
    assert_eq!(resolve("5:*", 3), vec![(3, 3)]);
    assert_eq!(resolve("*:5", 3), vec![(3, 3)]);
    assert_eq!(resolve("7:2", 10), vec![(2, 7)]);
    assert_eq!(resolve("*", 9), vec![(9, 9)]);
    // Empty mailbox: nothing, not even for "*".
    assert_eq!(resolve("*", 0), vec![]);
    assert_eq!(resolve("1:*", 0), vec![]);
    // Numbers above the largest select nothing.
    assert_eq!(resolve("10:12", 5), vec![]);
    assert_eq!(
        resolve("4294967295", 4294967295),
        vec![(4294967295, 4294967295)]
    );
}

#[test]
fn merging_and_iteration() {
    assert_eq!(resolve("2,1,3:4,9,8,4:2", 100), vec![(1, 4), (8, 9)]);
    assert_eq!(resolve("1:5,3:10,11", 100), vec![(1, 11)]);
    assert_eq!(
        set("3,1,2,2,*").iter(5).collect::<Vec<_>>(),
        vec![1, 2, 3, 5]
    );
    assert!(set("1:3,*").contains(7, 7));
    assert!(!set("1:3,*").contains(5, 7));
    assert_eq!(
        set("9:7,1,2").normalized(100).unwrap().to_string(),
        "1:2,7:9"
    );
    assert_eq!(set("9:7").normalized(3), None);
    assert!(set("$").resolve(10).is_empty());
    assert!(set("$").is_saved());
    assert!(set("1:*").has_star());
    assert!(!set("1:4").has_star());
}

#[test]
fn from_numbers_is_compact() {
    assert_eq!(SequenceSet::from_numbers([]), None);
    assert_eq!(SequenceSet::from_numbers([0]), None);
    assert_eq!(
        SequenceSet::from_numbers([10, 3, 1, 2, 7, 9, 2])
            .unwrap()
            .to_string(),
        "1:3,7,9:10"
    );
    assert_eq!(
        SequenceSet::from_numbers([u32::MAX, u32::MAX - 1])
            .unwrap()
            .to_string(),
        "4294967294:4294967295"
    );
    assert_eq!(SequenceSet::all().to_string(), "1:*");
    assert_eq!(SequenceSet::single(0), None);
    assert_eq!(SequenceSet::range(4, 2).unwrap().to_string(), "4:2");
    assert_eq!(SequenceSet::from_ranges(vec![]), None);
}
