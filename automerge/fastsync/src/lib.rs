//! Shortcuts around automerge 0.6.1's sync bookkeeping for the steady cases a busy spec lives in — telling a caught-up peer about a batch, confirming an author's change, staying silent, receiving — each leaving the sync state exactly as automerge's own functions would, without their walks of the whole change graph.
//!
//! automerge 0.6.1 computes clocks of the change graph for every sync message it generates,
//! even one it then decides not to send, and walks every ancestor of the other side's heads
//! for every message it receives (to forget sent changes the other side now holds): work
//! proportional to the history, per message. A server with 10 people on a spec typing 20
//! edits a second asked for about 30 of those per edit; a client on a 20,000-change spec spent
//! most of its time in the receive walk. [`generate`] answers the steady cases from the
//! batch's own changes and hands the rest to automerge; [`receive`] never walks (a change is
//! an ancestor of some heads exactly when their clock covers it, and automerge lists the
//! uncovered changes from its per-actor index). Usable on both sides of a connection.

pub mod chunks;

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;

use automerge::sync::{self, BloomFilter, Capability, Have, SyncDoc};
use automerge::{Automerge, AutomergeError, Change, ChangeHash, ReadDoc};

/// Most bits per entry and probes a peer's Bloom filter may use (automerge uses 10 and 7).
const MAX_BLOOM_PARAMETER: u64 = 64;

/// Checks the Bloom filters of a peer's message before automerge uses them. automerge
/// 0.6.1 takes their parameters as given: a filter that claims entries but has no bits
/// divides by zero when probed (a panic), and one claiming billions of probes makes it
/// allocate that many (which aborts the process).
pub fn check_blooms(msg: &sync::Message) -> Result<(), String> {
    for have in &msg.have {
        let bytes = have.bloom.to_bytes();
        if bytes.is_empty() {
            continue; // no entries: never probed
        }
        let mut input = bytes.as_slice();
        let mut next = || leb128::read::unsigned(&mut input).map_err(|e| e.to_string());
        let (_entries, bits, probes) = (next()?, next()?, next()?);
        let fine = |n: u64| (1..=MAX_BLOOM_PARAMETER).contains(&n);
        if !fine(bits) || !fine(probes) || input.is_empty() {
            return Err(format!(
                "invalid Bloom filter: {bits} bits per entry, {probes} probes, {} bytes",
                input.len()
            ));
        }
    }
    Ok(())
}

/// What one batch of received messages added to the document.
#[derive(Debug)]
pub struct Batch {
    /// Heads before and after the batch (sorted, as `get_heads` gives them).
    before: Vec<ChangeHash>,
    after: Vec<ChangeHash>,
    /// The added changes in the order `get_changes(before)` lists them.
    hashes: Vec<ChangeHash>,
    raw: Vec<Vec<u8>>,
    /// The bloom filter of the added changes, as automerge builds it for `last_sync = before`.
    bloom: BloomFilter,
    /// No change waits in the document's queue for a missing dependency.
    queue_empty: bool,
}

impl Batch {
    /// The batch that took `doc` from heads `before` to its heads now; `None` if it added nothing.
    pub fn since(doc: &Automerge, before: &[ChangeHash]) -> Option<Batch> {
        let after = doc.get_heads();
        if after == before {
            return None;
        }
        let changes = changes_after(doc, before);
        let hashes: Vec<ChangeHash> = changes.iter().map(|c| c.hash()).collect();
        Some(Batch {
            before: before.to_vec(),
            after,
            bloom: BloomFilter::from_hashes(hashes.iter()),
            raw: changes.iter().map(|c| c.raw_bytes().to_vec()).collect(),
            hashes,
            queue_empty: doc.get_missing_deps(&[]).is_empty(),
        })
    }

    /// Whether this is the batch from heads `before` to heads `after`.
    pub fn spans(&self, before: &[ChangeHash], after: &[ChangeHash]) -> bool {
        self.before == before && self.after == after
    }

    /// The added changes' hashes, dependencies first.
    pub fn hashes(&self) -> &[ChangeHash] {
        &self.hashes
    }

    /// The added changes' bytes, in the order of [`hashes`](Self::hashes).
    pub fn raw(&self) -> &[Vec<u8>] {
        &self.raw
    }
}

fn supports_v2(state: &sync::State) -> bool {
    state
        .their_capabilities
        .as_ref()
        .is_some_and(|caps| caps.contains(&Capability::MessageV2))
}

/// Whether automerge would answer the peer's last `have` with a reset message (it names
/// heads we do not know); the shortcuts leave that to automerge.
fn would_reset(since: &mut Since<'_>, state: &sync::State) -> bool {
    state
        .their_have
        .as_ref()
        .and_then(|have| have.first())
        .is_some_and(|have| have.last_sync.iter().any(|h| !since.holds(h)))
}

/// The next sync message for a peer: `doc.generate_sync_message(state)`, computed directly
/// when the peer is caught up (silence) or was caught up before `batch` (the batch's changes).
///
/// `heads` are `doc`'s heads. Differs from automerge in one way only: a change of the batch
/// whose hash the peer's bloom filter happens to contain (a false positive) is sent anyway.
pub fn generate(
    doc: &Automerge,
    state: &mut sync::State,
    heads: &[ChangeHash],
    batch: Option<&Batch>,
) -> Option<sync::Message> {
    generate_by(&mut Since::new(doc, heads), state, batch).0
}

/// [`generate`] for one of many peers of the same document at the same moment: `since`
/// remembers the changes beyond each version it has been asked about, so peers at the
/// same version (most of a spec's peers after a batch) share one walk.
pub fn generate_with(
    since: &mut Since<'_>,
    state: &mut sync::State,
    batch: Option<&Batch>,
) -> Option<sync::Message> {
    generate_by(since, state, batch).0
}

/// The changes beyond versions of one document at one moment (its `heads`), each version
/// walked once ([`changes_since`]).
#[derive(Debug)]
pub struct Since<'a> {
    doc: &'a Automerge,
    /// Shared with each message's generation, which reads them while asking `self`.
    heads: Rc<[ChangeHash]>,
    /// By version, sorted.
    known: HashMap<Vec<ChangeHash>, Option<Rc<[&'a Change]>>>,
    /// Whether the document holds a change, by hash: the peers of a busy spec tell of the
    /// same heads, and automerge looks each up in a SipHash map.
    held: foldhash::HashMap<ChangeHash, bool>,
}

impl<'a> Since<'a> {
    /// For `doc`, whose heads are `heads`.
    pub fn new(doc: &'a Automerge, heads: &[ChangeHash]) -> Since<'a> {
        Since {
            doc,
            heads: heads.into(),
            known: HashMap::new(),
            held: foldhash::HashMap::default(),
        }
    }

    /// Whether the document holds the change `hash`.
    fn holds(&mut self, hash: &ChangeHash) -> bool {
        let doc = self.doc;
        *self
            .held
            .entry(*hash)
            .or_insert_with(|| doc.get_change_by_hash(hash).is_some())
    }

    /// [`changes_since`] `version`.
    fn beyond(&mut self, version: &[ChangeHash]) -> Option<Rc<[&'a Change]>> {
        let mut key = version.to_vec();
        key.sort_unstable();
        key.dedup();
        let (doc, heads) = (self.doc, &self.heads);
        self.known
            .entry(key)
            .or_insert_with_key(|v| changes_since(doc, heads, v).map(Rc::from))
            .clone()
    }
}

/// How [`generate`] answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Way {
    Automerge,
    /// Automerge's own algorithm, with the changes beyond a version found by a walk.
    General,
    Silent,
    Batch,
    Pipelined,
    Confirm,
}

fn generate_by(
    since: &mut Since<'_>,
    state: &mut sync::State,
    batch: Option<&Batch>,
) -> (Option<sync::Message>, Way) {
    let doc = since.doc;
    let heads = Rc::clone(&since.heads);
    let heads = &*heads;
    // Whatever no shortcut answers: automerge's algorithm, with the changes beyond the
    // shared heads found by a walk instead of a clock (see `changes_since`); automerge
    // itself for an empty document, a reset, or a whole document sent at once.
    fn automerge(since: &mut Since<'_>, state: &mut sync::State) -> (Option<sync::Message>, Way) {
        match general(since, state) {
            Some(msg) => (msg, Way::General),
            None => (since.doc.generate_sync_message(state), Way::Automerge),
        }
    }
    if heads.is_empty() || !state.have_responded || would_reset(since, state) {
        return automerge(since, state);
    }
    let their_need_empty = state.their_need.as_ref().is_some_and(Vec::is_empty);
    if state.last_sent_heads == heads {
        // Nothing new since we last wrote: automerge stays silent while that is in flight,
        // and when the peer has told us it holds all we hold.
        if state.in_flight
            || (state.their_heads.as_deref() == Some(heads)
                && (their_need_empty || state.their_need.is_none()))
        {
            return (None, Way::Silent);
        }
        return automerge(since, state);
    }
    let version = if supports_v2(state) {
        sync::MessageVersion::V2
    } else {
        sync::MessageVersion::V1
    };
    if state.their_heads.as_deref() == Some(heads)
        && state.shared_heads == heads
        && (their_need_empty || state.their_need.is_none())
        && doc.get_missing_deps(&[]).is_empty()
    {
        // The peer told us it holds all we hold (an author whose change we just stored):
        // automerge confirms our heads with an empty bloom filter and no changes.
        state.last_sent_heads = heads.to_vec();
        state.in_flight = true;
        let msg = sync::Message {
            heads: heads.to_vec(),
            need: Vec::new(),
            have: vec![Have {
                last_sync: heads.to_vec(),
                bloom: BloomFilter::from_hashes(std::iter::empty::<ChangeHash>()),
            }],
            changes: Vec::<Vec<u8>>::new().into(),
            supported_capabilities: None,
            version,
        };
        return (Some(msg), Way::Confirm);
    }
    let Some(batch) = batch else {
        return automerge(since, state);
    };
    let steady = batch.after == heads
        && batch.queue_empty
        && their_need_empty
        && state.last_sent_heads == batch.before;
    if !steady || state.their_have.is_none() {
        return automerge(since, state);
    }
    if state.their_heads.as_deref() == Some(&batch.before[..]) && state.shared_heads == batch.before
    {
        // The peer holds exactly what we held before the batch: it lacks the batch, all of
        // it, and the batch is every change beyond the heads we share.
        let have = Have {
            last_sync: batch.before.clone(),
            bloom: batch.bloom.clone(),
        };
        return (
            Some(batch_message(state, heads, batch, have, version)),
            Way::Batch,
        );
    }
    // Pipelined: we had sent the peer everything before the batch, but its answer is still
    // on the way. It lacks what is in flight (`sent_hashes`: automerge keeps exactly the
    // sent changes beyond the peer's heads) and the batch; automerge sends the batch (the
    // rest is sent already) with a bloom filter of both, beyond the heads we share. Not when
    // a batch change is the peer's own (one of its heads: it has those), nor when its last
    // message held anything but one `have` (automerge would send no changes).
    let pipelined = state
        .their_have
        .as_ref()
        .is_some_and(|have| have.len() == 1)
        && state.their_heads.as_ref().is_some_and(|theirs| {
            *theirs == state.shared_heads
                && theirs
                    .iter()
                    .all(|h| !batch.hashes.contains(h) && since.holds(h))
        });
    if !pipelined {
        return automerge(since, state);
    }
    let beyond: Vec<&ChangeHash> = state.sent_hashes.iter().chain(&batch.hashes).collect();
    let have = Have {
        last_sync: state.shared_heads.clone(),
        bloom: BloomFilter::from_hashes(beyond.into_iter()),
    };
    (
        Some(batch_message(state, heads, batch, have, version)),
        Way::Pipelined,
    )
}

/// `doc.generate_sync_message(state)`, step by step as automerge 0.6 does it, except that
/// the changes beyond a version come from [`changes_since`]. `None`: left to automerge
/// (an empty document, a reset, a whole document sent to a peer that has nothing, or a
/// version we do not know).
fn general(since: &mut Since<'_>, state: &mut sync::State) -> Option<Option<sync::Message>> {
    let doc = since.doc;
    let heads = Rc::clone(&since.heads);
    let heads = &*heads;
    if heads.is_empty() || would_reset(since, state) {
        return None;
    }
    let their_heads = state.their_heads.clone().unwrap_or_default();
    let our_need = doc.get_missing_deps(&their_heads);
    let our_have = if our_need.iter().all(|h| their_heads.contains(h)) {
        let beyond = since.beyond(&state.shared_heads)?;
        vec![Have {
            last_sync: state.shared_heads.clone(),
            bloom: BloomFilter::from_hashes(beyond.iter().map(|c| c.hash())),
        }]
    } else {
        Vec::new()
    };
    let v2 = supports_v2(state);
    let mut to_send: Vec<&Change> = Vec::new();
    if let (Some(their_have), Some(their_need)) = (&state.their_have, &state.their_need) {
        if their_heads.is_empty() && state.their_heads.is_some() && !state.have_responded && v2 {
            return None;
        }
        to_send = changes_to_send(since, their_have, their_need)?;
        to_send.retain(|c| !state.sent_hashes.contains(&c.hash()));
    }
    if state.last_sent_heads == heads && state.have_responded {
        let heads_equal = state.their_heads.as_deref() == Some(heads);
        if (heads_equal && to_send.is_empty()) || state.in_flight {
            return Some(None);
        }
    }
    let (changes, version) = if v2 {
        let joined: Vec<u8> = to_send
            .iter()
            .flat_map(|c| c.raw_bytes().to_vec())
            .collect();
        let list = if joined.len() > 1 {
            vec![joined]
        } else {
            Vec::new()
        };
        (list, sync::MessageVersion::V2)
    } else {
        let list = to_send.iter().map(|c| c.raw_bytes().to_vec()).collect();
        (list, sync::MessageVersion::V1)
    };
    let supported_capabilities =
        (!state.have_responded).then(|| vec![Capability::MessageV1, Capability::MessageV2]);
    state.have_responded = true;
    state.last_sent_heads = heads.to_vec();
    state.sent_hashes.extend(to_send.iter().map(|c| c.hash()));
    state.in_flight = true;
    Some(Some(sync::Message {
        heads: heads.to_vec(),
        need: our_need,
        have: our_have,
        changes: changes.into(),
        supported_capabilities,
        version,
    }))
}

/// What automerge's `get_changes_to_send` lists: the changes the peer's bloom filters do
/// not hold beyond its versions, with every change that depends on one of those, and the
/// changes it asked for. `None` if a version is unknown here.
fn changes_to_send<'a>(
    since: &mut Since<'a>,
    have: &[Have],
    need: &[ChangeHash],
) -> Option<Vec<&'a Change>> {
    let doc = since.doc;
    if have.is_empty() {
        return Some(
            need.iter()
                .filter_map(|h| doc.get_change_by_hash(h))
                .collect(),
        );
    }
    let last_sync: Vec<ChangeHash> = have
        .iter()
        .flat_map(|h| h.last_sync.iter().copied())
        .collect();
    let changes = since.beyond(&last_sync)?;
    let mut dependents: HashMap<ChangeHash, Vec<ChangeHash>> = HashMap::new();
    let mut to_send: HashSet<ChangeHash> = HashSet::new();
    for change in changes.iter() {
        for dep in change.deps() {
            dependents.entry(*dep).or_default().push(change.hash());
        }
        if have.iter().all(|h| !h.bloom.contains_hash(&change.hash())) {
            to_send.insert(change.hash());
        }
    }
    let mut stack: Vec<ChangeHash> = to_send.iter().copied().collect();
    while let Some(hash) = stack.pop() {
        for dep in dependents.get(&hash).into_iter().flatten() {
            if to_send.insert(*dep) {
                stack.push(*dep);
            }
        }
    }
    let mut out: Vec<&Change> = need
        .iter()
        .filter(|h| !to_send.contains(h))
        .filter_map(|h| doc.get_change_by_hash(h))
        .collect();
    out.extend(changes.iter().filter(|c| to_send.contains(&c.hash())));
    Some(out)
}

/// The changes of `doc` (whose heads are `heads`) that are not ancestors of `version`,
/// oldest first by op number: what `doc.get_changes(version)` lists, except an empty change
/// of `version` itself, which automerge's clock lists too (harmless either way: a peer
/// holds it or is sent it again). Automerge 0.6 takes
/// the clock of `version` for that, walking its ancestors until each path meets one of the
/// clocks it cached for every 32nd change; when several people write at once, paths rarely
/// do, and each message walks most of the history. This walks back from both our heads
/// and `version` at once, highest op numbers first, marking what each reaches, and stops
/// when nothing only we reach is left below: it visits the changes made since the two
/// diverged. `None` if `version` names a change we do not have.
pub fn changes_since<'a>(
    doc: &'a Automerge,
    heads: &[ChangeHash],
    version: &[ChangeHash],
) -> Option<Vec<&'a Change>> {
    const OURS: u8 = 1;
    const THEIRS: u8 = 2;
    if version.is_empty() {
        return Some(doc.get_changes(&[]));
    }
    /// A change the walk reached: who reaches it, and with which marks it was last walked
    /// from.
    struct Reached<'a> {
        change: &'a Change,
        marks: u8,
        walked: u8,
    }
    struct Walk<'a> {
        doc: &'a Automerge,
        /// Hashed with foldhash (randomly seeded, several times faster than SipHash on
        /// 32-byte keys; this map is most of the walk).
        reached: foldhash::HashMap<ChangeHash, Reached<'a>>,
        queue: std::collections::BinaryHeap<(u64, ChangeHash)>,
        /// Changes only we reach, not walked from yet.
        open: usize,
    }
    impl Walk<'_> {
        fn reach(&mut self, hash: ChangeHash, by: u8) -> Option<()> {
            let r = match self.reached.entry(hash) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(e) => e.insert(Reached {
                    change: self.doc.get_change_by_hash(&hash)?,
                    marks: 0,
                    walked: 0,
                }),
            };
            let was_open = r.marks == OURS && r.walked != OURS;
            r.marks |= by;
            let is_open = r.marks == OURS && r.walked != OURS;
            if r.marks != r.walked {
                self.queue.push((r.change.max_op(), hash));
            }
            self.open = self.open + usize::from(is_open) - usize::from(was_open);
            Some(())
        }
    }
    let mut walk = Walk {
        doc,
        reached: foldhash::HashMap::default(),
        queue: std::collections::BinaryHeap::new(),
        open: 0,
    };
    for h in version {
        walk.reach(*h, THEIRS)?;
    }
    for h in heads {
        walk.reach(*h, OURS)?;
    }
    // The lowest op number among the changes only we reach: a change below it cannot be
    // their descendant, so cannot change who reaches them.
    let mut lowest_ours = u64::MAX;
    while let Some(&(max_op, hash)) = walk.queue.peek() {
        if walk.open == 0 && max_op < lowest_ours {
            break;
        }
        walk.queue.pop();
        let r = walk.reached.get_mut(&hash)?;
        if r.marks == r.walked {
            continue;
        }
        let (marks, change) = (r.marks, r.change);
        r.walked = marks;
        if marks == OURS {
            walk.open -= 1;
            lowest_ours = lowest_ours.min(max_op);
        }
        for dep in change.deps() {
            walk.reach(*dep, marks)?;
        }
    }
    let mut beyond: Vec<&Change> = walk
        .reached
        .values()
        .filter(|r| r.marks == OURS)
        .map(|r| r.change)
        .collect();
    beyond.sort_by_key(|c| (c.max_op(), c.hash()));
    Some(beyond)
}

/// The changes `doc` gained since it had heads `before`, dependencies first: what
/// `doc.get_changes(before)` lists (less an empty change of `before` itself, which
/// automerge's clock lists again), found by [`changes_since`]'s walk instead of a clock —
/// with several people writing at once, automerge's clock walks most of the history.
pub fn changes_after<'a>(doc: &'a Automerge, before: &[ChangeHash]) -> Vec<&'a Change> {
    match changes_since(doc, &doc.get_heads(), before) {
        Some(changes) => causal_order(changes),
        None => doc.get_changes(before),
    }
}

/// `changes` (ordered by op number) with every change after those of its dependencies
/// among them. Op numbers already order them but for empty changes, whose op number is
/// their parent's.
fn causal_order(changes: Vec<&Change>) -> Vec<&Change> {
    let position: HashMap<ChangeHash, usize> = changes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.hash(), i))
        .collect();
    let ordered = changes.iter().enumerate().all(|(i, c)| {
        c.deps()
            .iter()
            .all(|d| position.get(d).is_none_or(|&j| j < i))
    });
    if ordered {
        return changes;
    }
    // Depth first, each change once its dependencies are placed.
    let mut placed = vec![false; changes.len()];
    let mut out = Vec::with_capacity(changes.len());
    for start in 0..changes.len() {
        let mut stack = vec![(start, false)];
        while let Some((i, deps_placed)) = stack.pop() {
            if placed[i] {
                continue;
            }
            if deps_placed {
                placed[i] = true;
                out.push(changes[i]);
                continue;
            }
            stack.push((i, true));
            for dep in changes[i].deps() {
                if let Some(&j) = position.get(dep) {
                    if !placed[j] {
                        stack.push((j, false));
                    }
                }
            }
        }
    }
    out
}

/// A message carrying the batch's changes and `have`, recorded in the state as automerge
/// records what it sends.
fn batch_message(
    state: &mut sync::State,
    heads: &[ChangeHash],
    batch: &Batch,
    have: Have,
    version: sync::MessageVersion,
) -> sync::Message {
    let changes = if version == sync::MessageVersion::V2 {
        let joined = batch.raw.concat();
        if joined.len() > 1 {
            vec![joined]
        } else {
            Vec::new()
        }
    } else {
        batch.raw.clone()
    };
    state.last_sent_heads = heads.to_vec();
    state.sent_hashes.extend(batch.hashes.iter().copied());
    state.in_flight = true;
    sync::Message {
        heads: heads.to_vec(),
        need: Vec::new(),
        have: vec![have],
        changes: changes.into(),
        supported_capabilities: None,
        version,
    }
}

/// Receives a peer's sync message: what `doc.receive_sync_message(state, msg)` does, without
/// its walk over every ancestor of the peer's heads (to forget the changes we sent that the
/// peer now holds): when the peer ends on our heads it holds all of them; otherwise the ones
/// it lacks are among the changes its heads' clock does not cover, which automerge lists
/// from its per-actor index without a walk.
pub fn receive(
    doc: &mut Automerge,
    state: &mut sync::State,
    msg: sync::Message,
) -> Result<(), AutomergeError> {
    state.in_flight = false;
    if let Some(caps) = msg.supported_capabilities {
        state.their_capabilities = Some(caps);
    }
    let before = doc.get_heads();
    let had_changes = !msg.changes.is_empty();
    if had_changes {
        for chunk in msg.changes.iter() {
            doc.load_incremental(chunk)?;
        }
        state.shared_heads = advance_heads(&before, &doc.get_heads(), &state.shared_heads);
    }
    let known: Vec<ChangeHash> = msg
        .heads
        .iter()
        .filter(|h| doc.get_change_by_hash(h).is_some())
        .copied()
        .collect();
    if !state.sent_hashes.is_empty() {
        if known.is_empty() {
            // No known heads: automerge keeps every sent hash.
        } else if !msg.heads.is_empty() && msg.heads == doc.get_heads() {
            state.sent_hashes.clear();
        } else {
            forget_covered(doc, &mut state.sent_hashes, &known);
        }
    }
    if !had_changes && msg.heads == before {
        state.last_sent_heads.clone_from(&msg.heads);
    }
    if known.len() == msg.heads.len() {
        state.shared_heads.clone_from(&msg.heads);
        if msg.heads.is_empty() {
            // The peer has lost everything: start over.
            state.last_sent_heads = Vec::new();
            state.sent_hashes = Default::default();
        }
    } else {
        state.shared_heads.extend(known);
        state.shared_heads.sort();
        state.shared_heads.dedup();
    }
    state.their_have = Some(msg.have);
    state.their_heads = Some(msg.heads);
    state.their_need = Some(msg.need);
    Ok(())
}

/// More sent changes than this (a first sync) are judged by a clock, not a walk.
const WALK_AT_MOST: usize = 1024;

/// Forgets the sent changes that are ancestors of `heads`, as automerge's receive does. A
/// change's ops come after those of every change it depends on, so a descendant of a sent
/// change has a larger max op: the walk back from the heads ends at any change whose max op
/// is below the smallest of the sent ones, and visits only the changes made since the
/// oldest one in flight. With many sent changes, a clock of the heads instead (each actor's
/// changes form a chain, so a change is an ancestor exactly when their clock covers it:
/// the rest is what `get_changes` lists).
pub fn forget_covered(
    doc: &Automerge,
    sent: &mut std::collections::BTreeSet<ChangeHash>,
    heads: &[ChangeHash],
) {
    if sent.len() > WALK_AT_MOST {
        let beyond: std::collections::HashSet<ChangeHash> =
            doc.get_changes(heads).iter().map(|c| c.hash()).collect();
        sent.retain(|h| beyond.contains(h));
        return;
    }
    let Some(floor) = sent
        .iter()
        .filter_map(|h| doc.get_change_by_hash(h))
        .map(|c| c.max_op())
        .min()
    else {
        return;
    };
    let mut seen = std::collections::HashSet::new();
    let mut stack: Vec<ChangeHash> = heads.to_vec();
    while let Some(hash) = stack.pop() {
        if sent.is_empty() {
            return;
        }
        if !seen.insert(hash) {
            continue;
        }
        let Some(change) = doc.get_change_by_hash(&hash) else {
            continue;
        };
        if change.max_op() < floor {
            continue;
        }
        sent.remove(&hash);
        stack.extend_from_slice(change.deps());
    }
}

/// automerge's shared heads after applying changes: our new heads plus the old shared heads
/// that are still heads.
fn advance_heads(
    before: &[ChangeHash],
    after: &[ChangeHash],
    shared: &[ChangeHash],
) -> Vec<ChangeHash> {
    let mut advanced: Vec<ChangeHash> = after
        .iter()
        .filter(|h| !before.contains(h))
        .chain(shared.iter().filter(|h| after.contains(h)))
        .copied()
        .collect();
    advanced.sort();
    advanced.dedup();
    advanced
}

/// [`receive`], with a panic inside automerge reported as `Err(None)` (the document's state is
/// then unknown).
pub fn receive_guarded(
    doc: &mut Automerge,
    state: &mut sync::State,
    msg: sync::Message,
) -> Result<(), Option<AutomergeError>> {
    match catch_unwind(AssertUnwindSafe(|| receive(doc, state, msg))) {
        Ok(result) => result.map_err(Some),
        Err(_) => Err(None),
    }
}

#[cfg(test)]
mod tests {
    //! Every shortcut against automerge's own functions on clones of the same document and
    //! state, over random schedules of several peers editing through one server.

    use super::*;
    use automerge::transaction::Transactable;
    use automerge::{ActorId, Change, ObjType, ROOT};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use std::collections::{HashMap, HashSet, VecDeque};

    struct Net {
        server: Automerge,
        /// The server's sync state per peer.
        states: Vec<sync::State>,
        peers: Vec<(Automerge, sync::State)>,
        /// Messages in flight: (peer, to the server?, encoded message).
        wire: VecDeque<(usize, bool, Vec<u8>)>,
        /// How many messages each way answered.
        ways: HashMap<Way, usize>,
    }

    impl Net {
        fn new(peers: usize) -> Net {
            let mut seed = Automerge::new();
            seed.transact::<_, _, AutomergeError>(|tx| {
                tx.put_object(ROOT, "problem", ObjType::Text)?;
                Ok(())
            })
            .expect("seed");
            Net {
                server: seed.clone(),
                states: vec![sync::State::new(); peers],
                peers: (0..peers)
                    .map(|i| {
                        let doc = seed
                            .fork()
                            .with_actor(ActorId::from(vec![1, i as u8, 7, 7]));
                        (doc, sync::State::new())
                    })
                    .collect(),
                wire: VecDeque::new(),
                ways: HashMap::new(),
            }
        }

        fn edit(&mut self, p: usize, rng: &mut StdRng) {
            let doc = &mut self.peers[p].0;
            let (_, text) = doc.get(ROOT, "problem").expect("get").expect("text");
            let len = doc.length(&text);
            let at = rng.random_range(0..=len);
            doc.transact::<_, _, AutomergeError>(|tx| {
                tx.splice_text(&text, at, 0, "x")?;
                Ok(())
            })
            .expect("edit");
            self.peer_sends(p);
        }

        fn peer_sends(&mut self, p: usize) {
            let (doc, state) = &mut self.peers[p];
            if let Some(m) = doc.generate_sync_message(state) {
                self.wire.push_back((p, true, m.encode()));
            }
        }

        /// The server generates for every peer, checking each shortcut against automerge.
        fn server_sends(&mut self, batch: Option<&Batch>) {
            let heads = self.server.get_heads();
            // One memory of walks for every peer, as the server keeps per batch.
            let mut since = Since::new(&self.server, &heads);
            for p in 0..self.states.len() {
                loop {
                    let mut theirs = self.states[p].clone();
                    let before = self.states[p].clone();
                    let mut expected = self.server.generate_sync_message(&mut theirs);
                    let (got, way) = generate_by(&mut since, &mut self.states[p], batch);
                    if let (Some(g), Some(e), Way::Pipelined) = (&got, &mut expected, way) {
                        if g.have != e.have {
                            // Our bloom filter lists what is in flight and the batch; automerge's
                            // every change beyond the shared heads, which also holds a change it
                            // once withheld for a bloom false positive (never sent, so never
                            // one the peer could send us): harmless.
                            assert_eq!(g.have[0].last_sync, e.have[0].last_sync);
                            let all: HashSet<ChangeHash> = self
                                .server
                                .get_changes(&before.shared_heads)
                                .iter()
                                .map(|c| c.hash())
                                .collect();
                            let ours: HashSet<ChangeHash> = before
                                .sent_hashes
                                .iter()
                                .chain(&batch.expect("pipelined has a batch").hashes)
                                .copied()
                                .collect();
                            assert!(ours.is_subset(&all), "only changes beyond the shared heads");
                            assert!(all
                                .difference(&ours)
                                .all(|h| !before.sent_hashes.contains(h)));
                            e.have.clone_from(&g.have);
                        }
                    }
                    same_message(&got, &expected);
                    if way == Way::General {
                        // Automerge's algorithm: exactly its changes (in op order rather
                        // than history order) and exactly its state.
                        assert_eq!(
                            got.as_ref().map(change_set),
                            expected.as_ref().map(change_set)
                        );
                        assert_eq!(self.states[p], theirs, "state after a general message");
                    }
                    if got != expected || self.states[p] != theirs {
                        // Only the bloom false positive may differ; then the state differs
                        // only in the extra sent hash.
                        assert_eq!(self.states[p].last_sent_heads, theirs.last_sent_heads);
                        assert!(self.states[p].sent_hashes.is_superset(&theirs.sent_hashes));
                    }
                    *self.ways.entry(way).or_default() += 1;
                    match got {
                        Some(m) => self.wire.push_back((p, false, m.encode())),
                        None => break,
                    }
                }
            }
        }

        /// Delivers one message; server receipts are checked against automerge.
        fn deliver(&mut self) -> bool {
            let Some((p, to_server, bytes)) = self.wire.pop_front() else {
                return false;
            };
            let msg = sync::Message::decode(&bytes).expect("decode");
            if to_server {
                let before = self.server.get_heads();
                let mut doc = self.server.clone();
                let mut theirs = self.states[p].clone();
                doc.receive_sync_message(&mut theirs, msg.clone())
                    .expect("automerge");
                receive(&mut self.server, &mut self.states[p], msg).expect("shortcut");
                assert_eq!(self.states[p], theirs, "state after a receipt");
                assert_eq!(self.server.get_heads(), doc.get_heads());
                let batch = Batch::since(&self.server, &before);
                self.server_sends(batch.as_ref());
            } else {
                let (doc, state) = &mut self.peers[p];
                doc.receive_sync_message(state, msg).expect("peer");
                self.peer_sends(p);
            }
            true
        }
    }

    /// The hashes of the changes a message carries.
    fn change_set(m: &sync::Message) -> HashSet<ChangeHash> {
        m.changes
            .iter()
            .flat_map(crate::chunks::chunks)
            .map(|chunk| {
                let chunk = chunk.expect("chunk");
                Change::from_bytes(chunk.bytes.to_vec())
                    .expect("change")
                    .hash()
            })
            .collect()
    }

    fn same_message(got: &Option<sync::Message>, expected: &Option<sync::Message>) {
        match (got, expected) {
            (None, None) => {}
            (Some(g), Some(e)) => {
                assert_eq!(
                    (&g.heads, &g.need, &g.have, &g.supported_capabilities),
                    (&e.heads, &e.need, &e.have, &e.supported_capabilities)
                );
                assert_eq!(g.version, e.version);
                if g.changes != e.changes {
                    let (g, e) = (change_set(g), change_set(e));
                    assert!(
                        e.iter().all(|h| g.contains(h)),
                        "the shortcut sends all automerge sends"
                    );
                }
            }
            (g, e) => panic!("shortcut {g:?} but automerge {e:?}"),
        }
    }

    #[test]
    fn bloom_filters_with_no_bits_or_absurd_probes_are_refused_and_real_ones_pass() {
        let mut doc = Automerge::new();
        let mut tx = doc.transaction();
        tx.put(ROOT, "k", 1).expect("a put");
        tx.commit();
        let msg = doc
            .generate_sync_message(&mut sync::State::new())
            .expect("a first message");
        assert!(check_blooms(&msg).is_ok());
        let bloom = msg.have[0].bloom.to_bytes();
        let encoded = msg.encode();
        // Swaps the message's (length-prefixed) Bloom filter for `forged`.
        let forge = |forged: &[u8]| {
            let framed = [&[bloom.len() as u8][..], &bloom].concat();
            let at = encoded
                .windows(framed.len())
                .position(|w| w == framed.as_slice())
                .expect("the message carries its filter");
            let bytes = [
                &encoded[..at],
                &[forged.len() as u8][..],
                forged,
                &encoded[at + framed.len()..],
            ]
            .concat();
            sync::Message::decode(&bytes).expect("automerge decodes the forged filter")
        };
        let bits = &bloom[3..];
        assert!(check_blooms(&forge(&[bloom[0], 0, 7])).is_err());
        let no_probes = [&[bloom[0], 10, 0][..], bits].concat();
        assert!(check_blooms(&forge(&no_probes)).is_err());
        let probes = [&[bloom[0], 10, 0xff, 0xff, 0xff, 0xff, 0x0f][..], bits].concat();
        assert!(check_blooms(&forge(&probes)).is_err());
        assert!(check_blooms(&forge(&bloom)).is_ok());
    }

    #[test]
    fn changes_since_and_after_list_every_change_but_the_version_s_ancestors_in_a_concurrent_history(
    ) {
        for seed in 0..20u64 {
            let mut rng = StdRng::seed_from_u64(seed);
            let writers = 2 + (seed % 4) as usize;
            let mut net = Net::new(writers);
            let mut versions: Vec<Vec<ChangeHash>> = Vec::new();
            for _ in 0..150 {
                let p = rng.random_range(0..writers);
                match rng.random_range(0..10) {
                    // Empty changes share their op number with their parent.
                    0 => {
                        net.peers[p]
                            .0
                            .empty_commit(automerge::transaction::CommitOptions::default());
                    }
                    1..=6 => {
                        let doc = &mut net.peers[p].0;
                        let (_, text) = doc.get(ROOT, "problem").expect("get").expect("text");
                        let at = rng.random_range(0..=doc.length(&text));
                        doc.transact::<_, _, AutomergeError>(|tx| {
                            tx.splice_text(&text, at, 0, "x")?;
                            Ok(())
                        })
                        .expect("edit");
                    }
                    _ => {
                        let q = rng.random_range(0..writers);
                        if p != q {
                            let mut other = net.peers[q].0.clone();
                            net.peers[p].0.merge(&mut other).expect("merge");
                        }
                    }
                }
                versions.push(net.peers[p].0.get_heads());
            }
            let mut all = net.peers[0].0.clone();
            for p in 1..writers {
                let mut other = net.peers[p].0.clone();
                all.merge(&mut other).expect("merge");
            }
            let heads = all.get_heads();
            versions.push(heads.clone());
            versions.push(Vec::new());
            for version in &versions {
                let ours: HashSet<ChangeHash> = changes_since(&all, &heads, version)
                    .expect("known version")
                    .iter()
                    .map(|c| c.hash())
                    .collect();
                // Every change but the version's ancestors, by a plain walk.
                let mut ancestors: HashSet<ChangeHash> = HashSet::new();
                let mut stack = version.clone();
                while let Some(h) = stack.pop() {
                    if ancestors.insert(h) {
                        stack.extend(all.get_change_by_hash(&h).expect("known").deps());
                    }
                }
                let expected: HashSet<ChangeHash> = all
                    .get_changes(&[])
                    .iter()
                    .map(|c| c.hash())
                    .filter(|h| !ancestors.contains(h))
                    .collect();
                assert_eq!(ours, expected, "seed {seed}, version {version:?}");
                // Automerge's clock lists the same, and also an empty change of the version
                // (its clock only moves on a higher op number): never less.
                let automerge: HashSet<ChangeHash> =
                    all.get_changes(version).iter().map(|c| c.hash()).collect();
                assert!(ours.is_subset(&automerge));
                // The same changes, dependencies first, for a batch to store and send.
                let after = changes_after(&all, version);
                let listed: HashSet<ChangeHash> = after.iter().map(|c| c.hash()).collect();
                assert_eq!(listed, ours);
                assert_eq!(after.len(), ours.len());
                for (i, change) in after.iter().enumerate() {
                    for dep in change.deps() {
                        if let Some(j) = after.iter().position(|c| c.hash() == *dep) {
                            assert!(j < i, "seed {seed}: a change listed before its dependency");
                        }
                    }
                }
                for extra in automerge.difference(&ours) {
                    let change = all.get_change_by_hash(extra).expect("known");
                    assert_eq!(change.len(), 0, "only empty changes differ");
                }
            }
            let unknown = ChangeHash([7; 32]);
            assert!(changes_since(&all, &heads, &[unknown]).is_none());
        }
    }

    #[test]
    fn shortcuts_match_automerge_over_random_schedules_of_several_editors() {
        let mut ways: HashMap<Way, usize> = HashMap::new();
        for seed in 0..40u64 {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut net = Net::new(2 + (seed % 3) as usize);
            for p in 0..net.peers.len() {
                net.peer_sends(p);
            }
            for _ in 0..120 {
                match rng.random_range(0..10) {
                    0..=3 => {
                        let p = rng.random_range(0..net.peers.len());
                        net.edit(p, &mut rng);
                    }
                    _ => {
                        net.deliver();
                    }
                }
            }
            while net.deliver() {}
            let heads = net.server.get_heads();
            for (doc, _) in &net.peers {
                assert_eq!(doc.get_heads(), heads, "seed {seed}: every peer converged");
            }
            for (way, n) in net.ways {
                *ways.entry(way).or_default() += n;
            }
        }
        let by = |way| ways.get(&way).copied().unwrap_or(0);
        assert!(
            by(Way::Batch) > 50
                && by(Way::Pipelined) > 50
                && by(Way::Silent) > 1000
                && by(Way::Confirm) > 50
                && by(Way::General) > 1000,
            "the schedules exercised every way: {ways:?}"
        );
    }
}
