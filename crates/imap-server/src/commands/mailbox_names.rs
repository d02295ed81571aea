//! Mailbox names as the mailbox commands (CREATE, DELETE, RENAME,
//! SUBSCRIBE, LIST, LSUB, STATUS) see them: canonical spelling, LIST
//! patterns with the `*` and `%` wildcards (RFC 9051 §6.3.9), and the
//! hierarchy of an account's names, including the parents that are only
//! implied by a child's name (the store does not create them).
//!
//! The hierarchy delimiter is `/` ([`pillarbox_store::names::MAILBOX_SEPARATOR`]).

use std::collections::{HashMap, HashSet};

use pillarbox_store::Mailbox;
use pillarbox_store::names::{self, MAILBOX_SEPARATOR};

/// The hierarchy delimiter as sent in LIST/LSUB responses.
pub(crate) const DELIMITER: char = MAILBOX_SEPARATOR;

/// Most patterns one LIST command may carry (RFC 5258 allows several; the
/// bound keeps the matching work per command small).
pub(crate) const MAX_PATTERNS: usize = 100;

/// The canonical spelling of a name sent by the client (INBOX in any case
/// is `INBOX`, also as the first level), or `None` if it cannot name a
/// mailbox here.
pub(crate) fn canonical(name: &str) -> Option<String> {
    names::mailbox(name).ok()
}

/// Whether `name` is INBOX or below it (where the INBOX part compares
/// case-insensitively).
fn is_inbox_name(name: &str) -> bool {
    name.get(..5).is_some_and(|p| p == "INBOX")
        && (name.len() == 5 || name[5..].starts_with(DELIMITER))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Char(char),
    /// `*`: any run of characters.
    Star,
    /// `%`: any run of characters without the delimiter.
    Percent,
}

/// One LIST/LSUB pattern, interpreted with its reference name.
#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    tokens: Vec<Token>,
    /// Literal characters in the pattern: a longer name is needed to match.
    literals: usize,
    /// RFC 9051 §6.3.9: when `%` ends the pattern, the hierarchy levels it
    /// matches are listed too, even if they are not mailboxes.
    ends_with_percent: bool,
}

impl Pattern {
    /// RFC 9051 §6.3.9: the reference and the mailbox argument form one
    /// canonical pattern. A pattern starting with the delimiter is taken
    /// as absolute (no names here start with it, so it matches nothing);
    /// otherwise the reference is prefixed as is (clients end it with the
    /// delimiter, e.g. `LIST "Work/" %`).
    pub(crate) fn new(reference: &str, pattern: &str) -> Pattern {
        let full = if pattern.starts_with(DELIMITER) {
            pattern.to_string()
        } else {
            format!("{reference}{pattern}")
        };
        let mut tokens: Vec<Token> = Vec::with_capacity(full.len());
        let mut literals = 0;
        for c in full.chars() {
            let t = match c {
                '*' => Token::Star,
                '%' => Token::Percent,
                c => {
                    literals += 1;
                    Token::Char(c)
                }
            };
            // Runs of wildcards collapse: `%%` is `%`; `*` with `%` is `*`.
            match (tokens.last_mut(), t) {
                (Some(last @ (Token::Star | Token::Percent)), Token::Star | Token::Percent) => {
                    if t == Token::Star {
                        *last = Token::Star;
                    }
                }
                _ => tokens.push(t),
            }
        }
        Pattern {
            tokens,
            literals,
            ends_with_percent: full.ends_with('%'),
        }
    }

    /// Whether `name` (canonical) matches. The INBOX part of a name is
    /// compared case-insensitively (RFC 9051 §5.1: `LIST "" inbox` lists
    /// INBOX). Costs at most (pattern length × name length) steps; a
    /// pattern with more literal characters than the name is refused at
    /// once.
    pub(crate) fn matches(&self, name: &str) -> bool {
        let chars: Vec<char> = name.chars().collect();
        if self.literals > chars.len() {
            return false;
        }
        let inbox = is_inbox_name(name);
        let same = |i: usize, p: char| {
            let c = chars[i];
            c == p || (inbox && i < 5 && c.eq_ignore_ascii_case(&p))
        };
        // can[j]: the tokens so far match the first j characters.
        let n = chars.len();
        let mut can = vec![false; n + 1];
        can[0] = true;
        let mut next = vec![false; n + 1];
        for t in &self.tokens {
            match *t {
                Token::Char(p) => {
                    next[0] = false;
                    for j in 0..n {
                        next[j + 1] = can[j] && same(j, p);
                    }
                }
                Token::Star => {
                    let mut any = false;
                    for j in 0..=n {
                        any |= can[j];
                        next[j] = any;
                    }
                }
                Token::Percent => {
                    next[0] = can[0];
                    for j in 1..=n {
                        next[j] = can[j] || (next[j - 1] && chars[j - 1] != DELIMITER);
                    }
                }
            }
            std::mem::swap(&mut can, &mut next);
            if !can.iter().any(|x| *x) {
                return false;
            }
        }
        can[n]
    }
}

/// Matching work one command may do, in steps of [`Pattern::matches`]
/// (pattern tokens × name characters): ordinary LISTs need a few thousand;
/// crafted patterns over many long names are refused (`NO [LIMIT]`)
/// instead of burning CPU.
pub(crate) const MATCH_BUDGET: u64 = 50_000_000;

/// The matching work of a command exceeded [`MATCH_BUDGET`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TooComplex;

/// How a name matched the patterns of one command.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Matched {
    /// Some pattern matches the name.
    pub any: bool,
    /// Some pattern ending in `%` matches the name.
    pub by_trailing_percent: bool,
}

/// The patterns of one LIST/LSUB command with its work budget.
#[derive(Debug)]
pub(crate) struct Patterns {
    list: Vec<Pattern>,
    budget: u64,
}

impl Patterns {
    pub(crate) fn new(list: Vec<Pattern>) -> Patterns {
        Patterns {
            list,
            budget: MATCH_BUDGET,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// How `name` matches, charging the budget.
    pub(crate) fn check(&mut self, name: &str) -> Result<Matched, TooComplex> {
        let mut m = Matched::default();
        let chars = name.chars().count();
        for p in &self.list {
            if p.literals > chars {
                continue;
            }
            let cost = (p.tokens.len() as u64).saturating_mul(chars as u64 + 1);
            self.budget = self.budget.checked_sub(cost).ok_or(TooComplex)?;
            if p.matches(name) {
                m.any = true;
                m.by_trailing_percent |= p.ends_with_percent;
                if m.by_trailing_percent {
                    break;
                }
            }
        }
        Ok(m)
    }
}

/// One name of an account's hierarchy.
#[derive(Debug, Clone)]
pub(crate) struct Node<'a> {
    pub name: String,
    /// The mailbox, when the name is one.
    pub mailbox: Option<&'a Mailbox>,
    pub subscribed: bool,
    /// Some existing mailbox is below this name (RFC 3348 \HasChildren).
    pub has_children: bool,
}

/// The names of an account: its mailboxes, the parents their names imply,
/// and (if given) the subscribed names and their parents; parents come
/// right before their first child, otherwise the store's order is kept.
pub(crate) struct Hierarchy<'a> {
    pub nodes: Vec<Node<'a>>,
    index: HashMap<String, usize>,
}

impl<'a> Hierarchy<'a> {
    pub(crate) fn new(mailboxes: &'a [Mailbox], subscriptions: &[String]) -> Hierarchy<'a> {
        let subscribed: HashSet<&str> = subscriptions.iter().map(String::as_str).collect();
        let mut h = Hierarchy {
            nodes: Vec::with_capacity(mailboxes.len() + subscriptions.len()),
            index: HashMap::new(),
        };
        let mut parents_of_existing: HashSet<String> = HashSet::new();
        for mb in mailboxes {
            for p in names::mailbox_parents(&mb.name) {
                if !parents_of_existing.insert(p.to_string()) {
                    break;
                }
            }
        }
        let all = mailboxes
            .iter()
            .map(|m| (m.name.as_str(), Some(m)))
            .chain(subscriptions.iter().map(|s| (s.as_str(), None)));
        for (name, mailbox) in all {
            let mut chain: Vec<&str> = names::mailbox_parents(name).collect();
            chain.reverse();
            for p in chain {
                h.add(p, None, &subscribed, &parents_of_existing);
            }
            h.add(name, mailbox, &subscribed, &parents_of_existing);
        }
        h
    }

    fn add(
        &mut self,
        name: &str,
        mailbox: Option<&'a Mailbox>,
        subscribed: &HashSet<&str>,
        parents: &HashSet<String>,
    ) {
        if let Some(&i) = self.index.get(name) {
            if mailbox.is_some() {
                self.nodes[i].mailbox = mailbox;
            }
            return;
        }
        self.index.insert(name.to_string(), self.nodes.len());
        self.nodes.push(Node {
            name: name.to_string(),
            mailbox,
            subscribed: subscribed.contains(name),
            has_children: parents.contains(name),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(reference: &str, pattern: &str, name: &str) -> bool {
        Pattern::new(reference, pattern).matches(name)
    }

    #[test]
    fn star_matches_across_levels_percent_does_not() {
        assert!(m("", "*", "INBOX"));
        assert!(m("", "*", "a/b/c"));
        assert!(m("", "%", "Sent"));
        assert!(!m("", "%", "a/b"));
        assert!(m("", "%/%", "a/b"));
        assert!(m("", "a/*", "a/b/c"));
        assert!(!m("", "a/*", "a"));
        assert!(m("", "a*", "a"));
        assert!(m("", "%b%", "abc"));
        assert!(!m("", "%b%", "a/bc"));
        assert!(m("", "*c", "a/b/c"));
        assert!(!m("", "*c", "a/b/cd"));
        assert!(m("", "", ""));
        assert!(!m("", "", "a"));
    }

    #[test]
    fn reference_is_prefixed() {
        assert!(m("Work/", "%", "Work/Plans"));
        assert!(!m("Work/", "%", "Work"));
        assert!(!m("Work/", "%", "Work/Plans/2024"));
        assert!(m("Work/", "*", "Work/Plans/2024"));
        // An absolute pattern ignores the reference.
        assert!(!m("Work/", "/x", "Work/x"));
    }

    #[test]
    fn inbox_matches_case_insensitively() {
        assert!(m("", "inbox", "INBOX"));
        assert!(m("", "In%", "INBOX"));
        assert!(m("", "inbox/*", "INBOX/sub"));
        assert!(!m("", "inbox/SUB", "INBOX/sub"));
        assert!(!m("", "inboxes", "INBOXES"));
        assert!(!m("", "sent", "Sent"));
    }

    #[test]
    fn wildcard_runs_collapse_and_work_is_bounded() {
        let p = Pattern::new("", "%%**%%a");
        assert_eq!(p.tokens, vec![Token::Star, Token::Char('a')]);
        assert!(p.matches("x/y/a"));
        let long = "*".repeat(10_000) + &"a".repeat(2000);
        assert!(!Pattern::new("", &long).matches("aaaa"));
        let many = "%a".repeat(500);
        assert!(!Pattern::new("", &many).matches(&"a".repeat(499)));
        assert!(Pattern::new("", &many).matches(&"a".repeat(500)));
    }

    #[test]
    fn crafted_patterns_exhaust_the_budget() {
        let name = "a".repeat(1000);
        let pattern = "%a".repeat(1000);
        let mut p = Patterns::new(vec![Pattern::new("", &pattern); 100]);
        let mut result = Ok(Matched::default());
        for _ in 0..1000 {
            result = p.check(&name);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(TooComplex));
        let mut ordinary = Patterns::new(vec![Pattern::new("", "*"), Pattern::new("", "%")]);
        let m = ordinary.check("INBOX").unwrap();
        assert!(m.any && m.by_trailing_percent);
        assert!(!ordinary.check("a/b").unwrap().by_trailing_percent);
    }

    #[test]
    fn percent_at_end_is_noted() {
        assert!(Pattern::new("", "a/%").ends_with_percent);
        assert!(!Pattern::new("", "a/*").ends_with_percent);
        assert!(Pattern::new("x/", "%").ends_with_percent);
    }

    #[test]
    fn non_ascii_names_match_by_character() {
        assert!(m("", "\u{65e5}%", "\u{65e5}\u{672c}\u{8a9e}"));
        assert!(!m("", "\u{672c}%", "\u{65e5}\u{672c}"));
    }
}
