//! The RFC 5256 §3 threading algorithms, pure: messages in, `* THREAD`
//! tokens out. Trees live in an arena and every walk is iterative, so a
//! 100 000-deep reply chain costs memory, not stack.

use std::collections::HashMap;

use pillarbox_imap_proto::ThreadToken;

/// What threading needs of one message.
#[derive(Debug, Clone, Default)]
pub(crate) struct Msg {
    /// What the answer shows: the sequence number or the UID.
    pub number: u32,
    /// Sequence number: the tie-breaker of equal sent dates (§2.2).
    pub seq: u32,
    /// Sent date (§2.2), Unix time.
    pub sent: i64,
    /// Base subject (§2.1) in its i;unicode-casemap form.
    pub subject: Vec<u8>,
    /// The base subject extraction removed a reply / forward marker.
    pub reply: bool,
    pub message_id: Option<String>,
    pub references: Vec<String>,
    pub in_reply_to: Vec<String>,
}

/// ORDEREDSUBJECT (RFC 5256 §3): group by base subject; in a group the
/// first message (by sent date) is the parent of all the others; groups
/// ordered by the sent date of their first message.
pub(crate) fn ordered_subject(msgs: &[Msg]) -> Vec<ThreadToken> {
    let mut order: Vec<usize> = (0..msgs.len()).collect();
    // "sorted by base subject and then by sent date" (ties: sequence).
    order.sort_by(|&a, &b| {
        let (x, y) = (&msgs[a], &msgs[b]);
        (&x.subject, x.sent, x.seq).cmp(&(&y.subject, y.sent, y.seq))
    });
    let mut threads: Vec<&[usize]> = order
        .chunk_by(|&a, &b| msgs[a].subject == msgs[b].subject)
        .collect();
    threads.sort_by_key(|t| (msgs[t[0]].sent, msgs[t[0]].seq));
    let mut out = Vec::with_capacity(msgs.len() * 3);
    for t in threads {
        out.push(ThreadToken::Open);
        out.push(ThreadToken::Number(msgs[t[0]].number));
        match &t[1..] {
            [] => {}
            [only] => out.push(ThreadToken::Number(msgs[*only].number)),
            rest => {
                for &c in rest {
                    out.push(ThreadToken::Open);
                    out.push(ThreadToken::Number(msgs[c].number));
                    out.push(ThreadToken::Close);
                }
            }
        }
        out.push(ThreadToken::Close);
    }
    out
}

/// References taken into account per message, at most (the newest).
const MAX_REFERENCES: usize = 1000;

/// Parent steps the loop checks of step (1) may walk in one THREAD
/// command. A walk costs the depth of the would-be parent, so crafted
/// References (many nodes that already have children, each made a reply
/// to the bottom of one long chain) cost messages x depth: quadratic.
/// Once the budget is spent, a link whose loop-freedom is not yet proven
/// is not made (as if it would close a loop): bounded work, and a tree
/// that is still a tree.
const LOOP_CHECK_BUDGET: u64 = 20_000_000;

#[derive(Debug, Default)]
struct Node {
    /// Index into the messages; `None` for a dummy.
    msg: Option<usize>,
    parent: Option<usize>,
    children: Vec<usize>,
}

struct Tree<'a> {
    msgs: &'a [Msg],
    nodes: Vec<Node>,
    /// What is left of [`LOOP_CHECK_BUDGET`].
    walk_budget: u64,
}

impl Tree<'_> {
    fn new_node(&mut self, msg: Option<usize>) -> usize {
        self.nodes.push(Node {
            msg,
            ..Node::default()
        });
        self.nodes.len() - 1
    }

    /// Whether `a` is `b` or a descendant of `b` (RFC 5256 §3 step 1.A:
    /// "make sure that A is not a descendent of B"). `true` also when the
    /// walk budget is spent before the answer is known.
    fn within(&mut self, mut a: usize, b: usize) -> bool {
        if self.nodes[b].children.is_empty() {
            // Nothing below `b`: the common case of a new message.
            return a == b;
        }
        loop {
            if a == b {
                return true;
            }
            let Some(budget) = self.walk_budget.checked_sub(1) else {
                return true;
            };
            self.walk_budget = budget;
            match self.nodes[a].parent {
                Some(p) => a = p,
                None => return false,
            }
        }
    }

    fn link(&mut self, parent: usize, child: usize) {
        self.nodes[child].parent = Some(parent);
        self.nodes[parent].children.push(child);
    }

    fn unlink(&mut self, child: usize) {
        if let Some(p) = self.nodes[child].parent.take() {
            self.nodes[p].children.retain(|&c| c != child);
        }
    }

    /// Sort key of a node: its message's (sent date, sequence number); a
    /// dummy's is its first child's (§3 steps 4 and 7).
    fn key(&self, mut n: usize) -> (i64, u32) {
        loop {
            match self.nodes[n].msg {
                Some(m) => return (self.msgs[m].sent, self.msgs[m].seq),
                None => match self.nodes[n].children.first() {
                    Some(&c) => n = c,
                    None => return (i64::MAX, u32::MAX),
                },
            }
        }
    }

    /// The thread subject: the message's, or its first child's for a
    /// dummy (§3 step 5.B). `None` for a childless dummy.
    fn subject_msg(&self, n: usize) -> Option<&Msg> {
        let n = match self.nodes[n].msg {
            Some(_) => n,
            None => *self.nodes[n].children.first()?,
        };
        self.nodes[n].msg.map(|m| &self.msgs[m])
    }

    fn is_dummy(&self, n: usize) -> bool {
        self.nodes[n].msg.is_none()
    }

    /// Nodes below `roots` in post-order (children before parents).
    fn post_order(&self, roots: &[usize]) -> Vec<usize> {
        let mut out = Vec::with_capacity(self.nodes.len());
        let mut stack: Vec<(usize, bool)> = roots.iter().rev().map(|&r| (r, false)).collect();
        while let Some((n, expanded)) = stack.pop() {
            if expanded {
                out.push(n);
            } else {
                stack.push((n, true));
                for &c in self.nodes[n].children.iter().rev() {
                    stack.push((c, false));
                }
            }
        }
        out
    }
}

/// RFC 5256 §3 (REFERENCES) "normalize any msg-id in order to avoid
/// false non-matches due to differences in quoting": angle brackets and a
/// quoted local part's quoting go. `None` if not a usable id.
fn normalize_id(id: &str) -> Option<String> {
    let id = id.trim();
    let id = id.strip_prefix('<').unwrap_or(id);
    let id = id.strip_suffix('>').unwrap_or(id);
    if id.is_empty()
        || id
            .chars()
            .any(|c| c.is_whitespace() || c == '<' || c == '>')
    {
        return None;
    }
    let (local, domain) = match id.rfind('@') {
        Some(i) => (&id[..i], &id[i..]),
        None => (id, ""),
    };
    let local = match local.strip_prefix('"').and_then(|l| l.strip_suffix('"')) {
        Some(quoted) => {
            let mut out = String::with_capacity(quoted.len());
            let mut chars = quoted.chars();
            while let Some(c) = chars.next() {
                out.push(if c == '\\' {
                    chars.next().unwrap_or(c)
                } else {
                    c
                });
            }
            out
        }
        None => local.to_string(),
    };
    Some(format!("{local}{domain}"))
}

/// REFERENCES (RFC 5256 §3), steps (1) to (7).
pub(crate) fn references(msgs: &[Msg]) -> Vec<ThreadToken> {
    references_bounded(msgs, LOOP_CHECK_BUDGET)
}

/// [`references`] with a given loop-check walk budget.
fn references_bounded(msgs: &[Msg], walk_budget: u64) -> Vec<ThreadToken> {
    let mut t = Tree {
        msgs,
        nodes: Vec::with_capacity(msgs.len() * 2),
        walk_budget,
    };
    let mut ids: HashMap<String, usize> = HashMap::with_capacity(msgs.len());
    // (1) Messages in sequence order, so a duplicate Message-ID keeps its
    // first (lowest sequence number) owner.
    for (m, msg) in msgs.iter().enumerate() {
        let own = msg.message_id.as_deref().and_then(normalize_id);
        let node = match own {
            Some(id) => match ids.get(&id) {
                // A dummy made by an earlier reference: this message.
                Some(&n) if t.is_dummy(n) => {
                    t.nodes[n].msg = Some(m);
                    n
                }
                // Duplicate Message-ID: a unique id, i.e. none in the table.
                Some(_) => t.new_node(Some(m)),
                None => {
                    let n = t.new_node(Some(m));
                    ids.insert(id, n);
                    n
                }
            },
            // No (valid) Message-ID: a unique one.
            None => t.new_node(Some(m)),
        };
        // The References ids; if none is valid, the first valid
        // In-Reply-To id.
        let mut refs: Vec<String> = msg
            .references
            .iter()
            .filter_map(|r| normalize_id(r))
            .collect();
        if refs.is_empty() {
            refs.extend(msg.in_reply_to.iter().find_map(|r| normalize_id(r)));
        }
        let skip = refs.len().saturating_sub(MAX_REFERENCES);
        let mut prev: Option<usize> = None;
        for r in refs.into_iter().skip(skip) {
            let n = match ids.get(&r) {
                Some(&n) => n,
                None => {
                    let n = t.new_node(None);
                    ids.insert(r, n);
                    n
                }
            };
            // (1.A) Each reference the parent of the next, unless the
            // child has a parent already or the link would make a loop.
            if let Some(p) = prev
                && t.nodes[n].parent.is_none()
                && !t.within(p, n)
            {
                t.link(p, n);
            }
            prev = Some(n);
        }
        // (1.B) The last reference is the parent of this message: replace
        // a parent it has (a truncated References), unless that makes a
        // loop. No references: no parent.
        match prev {
            Some(p) if t.within(p, node) => {}
            Some(p) => {
                t.unlink(node);
                t.link(p, node);
            }
            None => t.unlink(node),
        }
    }

    // (2) The parentless nodes are the root's children.
    let roots: Vec<usize> = (0..t.nodes.len())
        .filter(|&n| t.nodes[n].parent.is_none())
        .collect();

    // (3) Prune dummies, bottom-up: a childless dummy goes; one with
    // children is replaced by them, except at the top level when it has
    // more than one.
    let mut order = t.post_order(&roots);
    order.push(usize::MAX); // the root itself, last
    let mut top: Vec<usize> = Vec::new();
    for n in order {
        let at_top = n == usize::MAX;
        let kids = if at_top {
            roots.clone()
        } else {
            std::mem::take(&mut t.nodes[n].children)
        };
        let mut pruned = Vec::with_capacity(kids.len());
        for c in kids {
            if !t.is_dummy(c) {
                pruned.push(c);
                continue;
            }
            let grand = &t.nodes[c].children;
            if grand.is_empty() {
                continue;
            }
            if !at_top || grand.len() == 1 {
                pruned.extend(std::mem::take(&mut t.nodes[c].children));
            } else {
                pruned.push(c);
            }
        }
        let parent = (!at_top).then_some(n);
        for &c in &pruned {
            t.nodes[c].parent = parent;
        }
        if at_top {
            top = pruned;
        } else {
            t.nodes[n].children = pruned;
        }
    }

    // (4) Sort the top level by sent date; a dummy's children first, then
    // it counts as its first child.
    for &n in &top {
        if t.is_dummy(n) {
            let mut kids = std::mem::take(&mut t.nodes[n].children);
            kids.sort_by_key(|&c| t.key(c));
            t.nodes[n].children = kids;
        }
    }
    top.sort_by_key(|&n| t.key(n));

    // (5) The subject table: one top-level node per base subject,
    // preferring a dummy, then a message that is not a reply / forward.
    let reply = |t: &Tree<'_>, n: usize| t.nodes[n].msg.is_some_and(|m| msgs[m].reply);
    let mut table: HashMap<Vec<u8>, usize> = HashMap::new();
    for &n in &top {
        let Some(subject) = t.subject_msg(n).map(|m| &m.subject) else {
            continue;
        };
        if subject.is_empty() {
            continue;
        }
        match table.get(subject) {
            None => {
                table.insert(subject.clone(), n);
            }
            Some(&old) => {
                if (t.is_dummy(n) && !t.is_dummy(old))
                    || (reply(&t, old) && !t.is_dummy(n) && !reply(&t, n))
                {
                    table.insert(subject.clone(), n);
                }
            }
        }
    }

    // (6) Merge top-level nodes with the same base subject.
    if !table.is_empty() {
        let mut at_top = vec![false; t.nodes.len()];
        for &n in &top {
            at_top[n] = true;
        }
        let mut replaced: HashMap<usize, usize> = HashMap::new();
        for &cur in &top.clone() {
            if !at_top[cur] {
                continue;
            }
            let Some(subject) = t.subject_msg(cur).map(|m| m.subject.clone()) else {
                continue;
            };
            if subject.is_empty() {
                continue;
            }
            let Some(&old) = table.get(&subject) else {
                continue;
            };
            if old == cur {
                continue;
            }
            if t.is_dummy(cur) && t.is_dummy(old) {
                // Both dummies: the current one's children join the other's.
                let kids = std::mem::take(&mut t.nodes[cur].children);
                for c in kids {
                    t.link(old, c);
                }
                at_top[cur] = false;
            } else if t.is_dummy(old) || (reply(&t, cur) && !reply(&t, old)) {
                // The table's is a dummy, or the current one replies to it.
                t.link(old, cur);
                at_top[cur] = false;
            } else {
                // A new dummy holds both and takes the table's place.
                let d = t.new_node(None);
                at_top.push(true);
                t.link(d, old);
                t.link(d, cur);
                at_top[old] = false;
                at_top[cur] = false;
                replaced.insert(old, d);
                table.insert(subject, d);
            }
        }
        top = top
            .into_iter()
            .filter_map(|n| {
                let mut n = n;
                while let Some(&d) = replaced.get(&n) {
                    n = d;
                }
                at_top[n].then_some(n)
            })
            .collect();
        top.dedup();
    }

    // (7) Sort every set of siblings by sent date, the deepest first (a
    // dummy sorts by its first child, so its children come first).
    for n in t.post_order(&top) {
        let mut kids = std::mem::take(&mut t.nodes[n].children);
        kids.sort_by_key(|&c| t.key(c));
        t.nodes[n].children = kids;
    }
    top.sort_by_key(|&n| t.key(n));

    emit(&t, &top)
}

/// RFC 5256 §4 `thread-list` per top-level node: a node's number, then
/// its only child inline, or each of several children in parentheses.
fn emit(t: &Tree<'_>, top: &[usize]) -> Vec<ThreadToken> {
    enum Work {
        Members(usize),
        Token(ThreadToken),
    }
    let mut out = Vec::new();
    let mut stack: Vec<Work> = Vec::new();
    for &n in top.iter().rev() {
        stack.push(Work::Token(ThreadToken::Close));
        stack.push(Work::Members(n));
        stack.push(Work::Token(ThreadToken::Open));
    }
    while let Some(w) = stack.pop() {
        match w {
            Work::Token(tok) => out.push(tok),
            Work::Members(n) => {
                if let Some(m) = t.nodes[n].msg {
                    out.push(ThreadToken::Number(t.msgs[m].number));
                }
                match t.nodes[n].children.as_slice() {
                    [] => {}
                    [only] => stack.push(Work::Members(*only)),
                    kids => {
                        for &c in kids.iter().rev() {
                            stack.push(Work::Token(ThreadToken::Close));
                            stack.push(Work::Members(c));
                            stack.push(Work::Token(ThreadToken::Open));
                        }
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
#[path = "algorithm_tests.rs"]
mod tests;
