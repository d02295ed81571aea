//! Sequence sets (RFC 9051 `sequence-set`, `seq-range`, `*`) and the saved
//! search result `$` (RFC 5182 SEARCHRES).

use std::fmt;
use std::ops::RangeInclusive;
use std::str::FromStr;

use crate::cursor::{Cursor, Options, PResult};
use crate::error::ParseError;

/// One end of a range: a number (≥ 1) or `*`, the largest number in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SeqNum {
    Value(u32),
    Star,
}

impl SeqNum {
    fn resolve(self, max: u32) -> u32 {
        match self {
            SeqNum::Value(n) => n,
            SeqNum::Star => max,
        }
    }
}

impl fmt::Display for SeqNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SeqNum::Value(n) => write!(f, "{n}"),
            SeqNum::Star => f.write_str("*"),
        }
    }
}

/// `a:b` (either order, both inclusive) or a single number (`a == b`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SeqRange {
    pub start: SeqNum,
    pub end: SeqNum,
}

impl fmt::Display for SeqRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.start == self.end {
            write!(f, "{}", self.start)
        } else {
            write!(f, "{}:{}", self.start, self.end)
        }
    }
}

/// A sequence set as the client wrote it: non-empty ranges, or `$`.
///
/// Message numbers and UIDs share the syntax; [`SequenceSet::resolve`]
/// interprets it against the largest number in use (`*`). Per RFC 9051
/// §9 (`seq-range`), `a:b` equals `b:a`, and `5:*` with a largest number of
/// 3 means `3:5`, so it still contains the last message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SequenceSet(Repr);

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Repr {
    Saved,
    Ranges(Vec<SeqRange>),
}

impl SequenceSet {
    /// `$`: the result saved by the last `SEARCH RETURN (SAVE)`.
    pub fn saved() -> SequenceSet {
        SequenceSet(Repr::Saved)
    }

    /// `None` for an empty list or a zero value.
    pub fn from_ranges(ranges: Vec<SeqRange>) -> Option<SequenceSet> {
        let zero = |n: SeqNum| n == SeqNum::Value(0);
        if ranges.is_empty() || ranges.iter().any(|r| zero(r.start) || zero(r.end)) {
            return None;
        }
        Some(SequenceSet(Repr::Ranges(ranges)))
    }

    /// A single number (≥ 1).
    pub fn single(n: u32) -> Option<SequenceSet> {
        SequenceSet::range(n, n)
    }

    /// `a:b` (both ≥ 1).
    pub fn range(a: u32, b: u32) -> Option<SequenceSet> {
        SequenceSet::from_ranges(vec![SeqRange {
            start: SeqNum::Value(a),
            end: SeqNum::Value(b),
        }])
    }

    /// `1:*`.
    pub fn all() -> SequenceSet {
        SequenceSet(Repr::Ranges(vec![SeqRange {
            start: SeqNum::Value(1),
            end: SeqNum::Star,
        }]))
    }

    /// The compact form of a set of numbers (zeros ignored): sorted,
    /// deduplicated, runs joined, e.g. `1:3,7,9:10`. `None` if empty.
    pub fn from_numbers(numbers: impl IntoIterator<Item = u32>) -> Option<SequenceSet> {
        let mut v: Vec<u32> = numbers.into_iter().filter(|&n| n > 0).collect();
        v.sort_unstable();
        v.dedup();
        let mut ranges: Vec<SeqRange> = Vec::new();
        let mut run: Option<(u32, u32)> = None;
        for n in v {
            run = match run {
                Some((a, b)) if b.checked_add(1) == Some(n) => Some((a, n)),
                Some((a, b)) => {
                    ranges.push(make_range(a, b));
                    Some((n, n))
                }
                None => Some((n, n)),
            };
        }
        if let Some((a, b)) = run {
            ranges.push(make_range(a, b));
        }
        SequenceSet::from_ranges(ranges)
    }

    /// True for `$`.
    pub fn is_saved(&self) -> bool {
        matches!(self.0, Repr::Saved)
    }

    /// The ranges as written (empty for `$`).
    pub fn ranges(&self) -> &[SeqRange] {
        match &self.0 {
            Repr::Saved => &[],
            Repr::Ranges(r) => r,
        }
    }

    /// True if any range uses `*`.
    pub fn has_star(&self) -> bool {
        self.ranges()
            .iter()
            .any(|r| r.start == SeqNum::Star || r.end == SeqNum::Star)
    }

    /// The numbers in `1..=max` this set selects, as sorted, merged,
    /// non-overlapping ranges. `*` is `max`; numbers above `max` select
    /// nothing. A `$` set resolves to nothing: substitute the saved result
    /// first.
    pub fn resolve(&self, max: u32) -> Vec<RangeInclusive<u32>> {
        let mut spans: Vec<(u32, u32)> = self
            .ranges()
            .iter()
            .filter_map(|r| {
                let a = r.start.resolve(max);
                let b = r.end.resolve(max);
                let lo = a.min(b).max(1);
                let hi = a.max(b).min(max);
                (lo <= hi).then_some((lo, hi))
            })
            .collect();
        spans.sort_unstable();
        let mut out: Vec<RangeInclusive<u32>> = Vec::with_capacity(spans.len());
        for (lo, hi) in spans {
            if let Some(last) = out.last_mut()
                && lo <= last.end().saturating_add(1)
            {
                if hi > *last.end() {
                    *last = *last.start()..=hi;
                }
                continue;
            }
            out.push(lo..=hi);
        }
        out
    }

    /// The selected numbers in ascending order, each once.
    pub fn iter(&self, max: u32) -> impl Iterator<Item = u32> + use<> {
        self.resolve(max).into_iter().flatten()
    }

    /// True if `n` is selected when the largest number is `max`.
    pub fn contains(&self, n: u32, max: u32) -> bool {
        self.resolve(max).iter().any(|r| r.contains(&n))
    }

    /// The compact form (as [`SequenceSet::from_numbers`]) of what this set
    /// selects against `max`; `None` if it selects nothing.
    pub fn normalized(&self, max: u32) -> Option<SequenceSet> {
        let ranges: Vec<SeqRange> = self
            .resolve(max)
            .into_iter()
            .map(|r| make_range(*r.start(), *r.end()))
            .collect();
        SequenceSet::from_ranges(ranges)
    }

    pub(crate) fn parse(c: &mut Cursor<'_>) -> PResult<SequenceSet> {
        if c.eat(b'$') {
            return Ok(SequenceSet::saved());
        }
        let mut ranges = Vec::new();
        loop {
            let start = seq_number(c)?;
            let end = if c.eat(b':') { seq_number(c)? } else { start };
            ranges.push(SeqRange { start, end });
            if !c.eat(b',') {
                break;
            }
        }
        Ok(SequenceSet(Repr::Ranges(ranges)))
    }
}

fn make_range(a: u32, b: u32) -> SeqRange {
    SeqRange {
        start: SeqNum::Value(a),
        end: SeqNum::Value(b),
    }
}

fn seq_number(c: &mut Cursor<'_>) -> PResult<SeqNum> {
    if c.eat(b'*') {
        Ok(SeqNum::Star)
    } else {
        c.nz_number()
            .map(SeqNum::Value)
            .map_err(|_| c.err("sequence set"))
    }
}

impl fmt::Display for SequenceSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Saved => f.write_str("$"),
            Repr::Ranges(r) => {
                for (i, range) in r.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{range}")?;
                }
                Ok(())
            }
        }
    }
}

impl FromStr for SequenceSet {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut c = Cursor::new(
            s.as_bytes(),
            Options {
                utf8: false,
                max_depth: 1,
            },
        );
        let set = SequenceSet::parse(&mut c)?;
        if !c.at_end() {
            return Err(c.err("sequence set"));
        }
        Ok(set)
    }
}
