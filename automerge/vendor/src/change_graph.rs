use std::collections::{BTreeMap, BTreeSet, HashMap};

use fxhash::FxBuildHasher;

use crate::{
    clock::{Clock, ClockData},
    Change, ChangeHash,
};

/// The graph of changes
///
/// This is a sort of adjacency list based representation, except that instead of using linked
/// lists, we keep all the edges and nodes in two vecs and reference them by index which plays nice
/// with the cache
#[derive(Debug, Clone)]
pub(crate) struct ChangeGraph {
    nodes: Vec<ChangeNode>,
    edges: Vec<Edge>,
    hashes: Vec<ChangeHash>,
    nodes_by_hash: BTreeMap<ChangeHash, NodeIdx>,
    /// The clocks of some nodes: every `CACHE_STEP`th node, and the nodes where a walk
    /// computing one of those was cut short (see `cache_clock`).
    clock_cache: HashMap<NodeIdx, Clock, FxBuildHasher>,
}

const CACHE_STEP: u32 = 32;

/// How many nodes one walk that fills the cache visits before it caches the clocks of
/// the nodes it has not reached yet instead of walking on. A history typed by 20 people
/// at once needs ~100 per walk; each node cached costs a clock (~1 KB with 20 actors).
const WALK_LIMIT: usize = 8 * CACHE_STEP as usize;

/// Clocks cached beyond one per `CACHE_STEP / 2` nodes. Histories people type hold one
/// in `CACHE_STEP`; a crafted one (hundreds of concurrent changes merged, again and
/// again) would make every walk cut at `WALK_LIMIT` cache the clocks of the hundreds of
/// nodes it did not reach, up to a clock per change. Past this budget a clock is walked
/// in full instead, as upstream does: slower for such a history, never more memory.
const EXTRA_CLOCKS: usize = 256;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct NodeIdx(u32);

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct EdgeIdx(u32);

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct HashIdx(u32);

#[derive(Debug, Clone)]
struct Edge {
    // Edges are always child -> parent so we only store the target, the child is implicit
    // as you get the edge from the child
    target: NodeIdx,
    next: Option<EdgeIdx>,
}

#[derive(Debug, Clone)]
struct ChangeNode {
    hash_idx: HashIdx,
    actor_index: usize,
    seq: u64,
    max_op: u64,
    parents: Option<EdgeIdx>,
}

impl ChangeGraph {
    pub(crate) fn new() -> Self {
        Self {
            nodes: Vec::new(),
            edges: Vec::new(),
            nodes_by_hash: BTreeMap::new(),
            hashes: Vec::new(),
            clock_cache: HashMap::default(),
        }
    }

    pub(crate) fn add_change(
        &mut self,
        change: &Change,
        actor_idx: usize,
    ) -> Result<(), MissingDep> {
        let hash = change.hash();
        if self.nodes_by_hash.contains_key(&hash) {
            return Ok(());
        }
        let parent_indices = change
            .deps()
            .iter()
            .map(|h| self.nodes_by_hash.get(h).copied().ok_or(MissingDep(*h)))
            .collect::<Result<Vec<_>, _>>()?;
        let node_idx = self.add_node(actor_idx, change);
        self.nodes_by_hash.insert(hash, node_idx);
        for parent_idx in parent_indices {
            self.add_parent(node_idx, parent_idx);
        }
        if (node_idx.0 + 1) % CACHE_STEP == 0 {
            self.cache_clock(node_idx);
        }
        Ok(())
    }

    /// Cache the clock of `target`, visiting a bounded number of nodes per clock.
    ///
    /// In a history written by several people at once a path from `target` can run
    /// between the cached nodes all the way to the first change, which made loading such
    /// a history quadratic when a walk only stopped at cached nodes. Now a walk also
    /// skips what the cached clocks it met already include (see `walk_clock`), and stops
    /// after `WALK_LIMIT` nodes; the nodes it has not reached by then get their clocks
    /// cached first (each the same way), and the walk is done again, now stopping at
    /// them.
    fn cache_clock(&mut self, target: NodeIdx) {
        let mut pending = vec![target];
        while let Some(&node) = pending.last() {
            if self.clock_cache.contains_key(&node) {
                pending.pop();
                continue;
            }
            let mut clock = Clock::new();
            let mut to_visit = BTreeSet::from([node]);
            self.walk_clock(&mut clock, &mut to_visit, WALK_LIMIT);
            let uncached: Vec<NodeIdx> = to_visit
                .iter()
                .filter(|n| !self.clock_cache.contains_key(n))
                .copied()
                .collect();
            if uncached.is_empty() {
                for n in &to_visit {
                    clock = Clock::merge(&clock, &self.clock_cache[n]);
                }
                self.clock_cache.insert(node, clock);
                pending.pop();
            } else if self.clock_cache.len() + pending.len() + uncached.len()
                > self.cache_budget()
            {
                let mut clock = Clock::new();
                let mut to_visit = BTreeSet::from([node]);
                self.walk_clock(&mut clock, &mut to_visit, usize::MAX);
                self.clock_cache.insert(node, clock);
                pending.pop();
            } else {
                // Each is older than every node this walk visited, so caching them
                // cannot change this walk's first `WALK_LIMIT` steps: the next walk
                // from `node` stops at them. The stack only grows towards older nodes,
                // so this ends.
                pending.extend(uncached);
            }
        }
    }

    /// How many clocks the cache may hold (see `EXTRA_CLOCKS`).
    fn cache_budget(&self) -> usize {
        self.nodes.len() / (CACHE_STEP as usize / 2) + EXTRA_CLOCKS
    }

    fn add_node(&mut self, actor_index: usize, change: &Change) -> NodeIdx {
        let idx = NodeIdx(self.nodes.len() as u32);
        let hash_idx = self.add_hash(change.hash());
        self.nodes.push(ChangeNode {
            hash_idx,
            actor_index,
            seq: change.seq(),
            max_op: change.max_op(),
            parents: None,
        });
        idx
    }

    fn add_hash(&mut self, hash: ChangeHash) -> HashIdx {
        let idx = HashIdx(self.hashes.len() as u32);
        self.hashes.push(hash);
        idx
    }

    fn add_parent(&mut self, child_idx: NodeIdx, parent_idx: NodeIdx) {
        let new_edge_idx = EdgeIdx(self.edges.len() as u32);
        let new_edge = Edge {
            target: parent_idx,
            next: None,
        };
        self.edges.push(new_edge);

        let child = &mut self.nodes[child_idx.0 as usize];
        if let Some(edge_idx) = child.parents {
            let mut edge = &mut self.edges[edge_idx.0 as usize];
            while let Some(next) = edge.next {
                edge = &mut self.edges[next.0 as usize];
            }
            edge.next = Some(new_edge_idx);
        } else {
            child.parents = Some(new_edge_idx);
        }
    }

    fn parents(&self, node_idx: NodeIdx) -> impl Iterator<Item = NodeIdx> + '_ {
        let mut edge_idx = self.nodes[node_idx.0 as usize].parents;
        std::iter::from_fn(move || {
            let this_edge_idx = edge_idx?;
            let edge = &self.edges[this_edge_idx.0 as usize];
            edge_idx = edge.next;
            Some(edge.target)
        })
    }

    fn heads_to_nodes(&self, heads: &[ChangeHash]) -> Vec<NodeIdx> {
        heads
            .iter()
            .filter_map(|h| self.nodes_by_hash.get(h))
            .copied()
            .collect()
    }

    pub(crate) fn clock_for_heads(&self, heads: &[ChangeHash]) -> Clock {
        let mut clock = Clock::new();
        let mut to_visit = self.heads_to_nodes(heads).into_iter().collect();
        self.walk_clock(&mut clock, &mut to_visit, usize::MAX);
        debug_assert!(to_visit.is_empty());
        clock
    }

    /// Include in `clock` the nodes of `to_visit` and their ancestors, newest first.
    ///
    /// At a cached node its clock is merged instead of walking on, and a node that a
    /// merged clock already includes is skipped with all its ancestors: an actor's change
    /// follows that actor's previous change, so a clock that includes an actor's change
    /// `seq` includes that change's ancestors too. Nodes are numbered in the order they
    /// were added, after their dependencies, so taking the highest number each time
    /// visits every node once. Stops after visiting `limit` nodes: what is left in
    /// `to_visit` then is older than every node visited, and not yet included.
    fn walk_clock(&self, clock: &mut Clock, to_visit: &mut BTreeSet<NodeIdx>, limit: usize) {
        let mut visited = 0;
        let mut covered = Clock::new();
        while visited < limit {
            let Some(idx) = to_visit.pop_last() else {
                break;
            };
            if self.includes(&covered, idx) {
                continue;
            }
            let node = &self.nodes[idx.0 as usize];
            visited += 1;
            clock.include(
                node.actor_index,
                ClockData {
                    max_op: node.max_op,
                    seq: node.seq,
                },
            );
            if let Some(cached) = self.clock_cache.get(&idx) {
                covered = Clock::merge(&covered, cached);
            } else {
                to_visit.extend(self.parents(idx));
            }
        }
        to_visit.retain(|&idx| !self.includes(&covered, idx));
        *clock = Clock::merge(clock, &covered);
    }

    /// Whether `clock` includes the change at `idx`.
    fn includes(&self, clock: &Clock, idx: NodeIdx) -> bool {
        let node = &self.nodes[idx.0 as usize];
        clock
            .get_for_actor(&node.actor_index)
            .is_some_and(|d| d.seq >= node.seq)
    }

    pub(crate) fn remove_ancestors(
        &self,
        changes: &mut BTreeSet<ChangeHash>,
        heads: &[ChangeHash],
    ) {
        let nodes = self.heads_to_nodes(heads);
        self.traverse_ancestors(nodes, |node, _idx| {
            let hash = &self.hashes[node.hash_idx.0 as usize];
            changes.remove(hash);
            true
        });
    }

    /// Call `f` for each (node, hash) in the graph, starting from the given heads
    ///
    /// No guarantees are made about the order of traversal but each node will only be visited
    /// once.
    fn traverse_ancestors<F: FnMut(&ChangeNode, NodeIdx) -> bool>(
        &self,
        mut to_visit: Vec<NodeIdx>,
        mut f: F,
    ) {
        let mut visited = BTreeSet::new();

        while let Some(idx) = to_visit.pop() {
            if visited.contains(&idx) {
                continue;
            } else {
                visited.insert(idx);
            }
            let node = &self.nodes[idx.0 as usize];
            if f(node, idx) {
                to_visit.extend(self.parents(idx));
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("attempted to derive a clock for a change with dependencies we don't have")]
pub struct MissingDep(ChangeHash);

#[cfg(test)]
mod tests {
    use std::{
        num::NonZeroU64,
        time::{SystemTime, UNIX_EPOCH},
    };

    use crate::{
        clock::ClockData,
        op_set::OpSetData,
        storage::{change::ChangeBuilder, convert::op_as_actor_id},
        types::{Key, ObjId, OpBuilder, OpId},
        ActorId, TextEncoding,
    };

    use super::*;

    #[test]
    fn clock_by_heads() {
        let mut builder = TestGraphBuilder::new();
        let actor1 = builder.actor();
        let actor2 = builder.actor();
        let actor3 = builder.actor();
        let change1 = builder.change(&actor1, 10, &[]);
        let change2 = builder.change(&actor2, 20, &[change1]);
        let change3 = builder.change(&actor3, 30, &[change1]);
        let change4 = builder.change(&actor1, 10, &[change2, change3]);
        let graph = builder.build();

        let mut expected_clock = Clock::new();
        expected_clock.include(builder.index(&actor1), ClockData { max_op: 50, seq: 2 });
        expected_clock.include(builder.index(&actor2), ClockData { max_op: 30, seq: 1 });
        expected_clock.include(builder.index(&actor3), ClockData { max_op: 40, seq: 1 });

        let clock = graph.clock_for_heads(&[change4]);
        assert_eq!(clock, expected_clock);
    }

    #[test]
    fn remove_ancestors() {
        let mut builder = TestGraphBuilder::new();
        let actor1 = builder.actor();
        let actor2 = builder.actor();
        let actor3 = builder.actor();
        let change1 = builder.change(&actor1, 10, &[]);
        let change2 = builder.change(&actor2, 20, &[change1]);
        let change3 = builder.change(&actor3, 30, &[change1]);
        let change4 = builder.change(&actor1, 10, &[change2, change3]);
        let graph = builder.build();

        let mut changes = vec![change1, change2, change3, change4]
            .into_iter()
            .collect::<BTreeSet<_>>();
        let heads = vec![change2];
        graph.remove_ancestors(&mut changes, &heads);

        let expected_changes = vec![change3, change4].into_iter().collect::<BTreeSet<_>>();

        assert_eq!(changes, expected_changes);
    }

    /// Rounds of `fan` concurrent changes, each by an actor of its own, every round
    /// merged by one change: the shape that would make the cache hold a clock per change.
    #[test]
    fn a_crafted_history_cannot_make_the_clock_cache_hold_a_clock_per_change() {
        let (fan, rounds) = (400, 6);
        let mut builder = TestGraphBuilder::new();
        let merger = builder.actor();
        let mut head = builder.change(&merger, 1, &[]);
        let mut all = vec![head];
        for _ in 0..rounds {
            let round: Vec<ChangeHash> = (0..fan)
                .map(|_| {
                    let actor = builder.actor();
                    builder.change(&actor, 1, &[head])
                })
                .collect();
            all.extend(&round);
            head = builder.change(&merger, 1, &round);
            all.push(head);
        }
        let graph = builder.build();
        assert!(
            graph.clock_cache.len() <= graph.cache_budget(),
            "{} clocks cached for {} changes",
            graph.clock_cache.len(),
            graph.nodes.len()
        );
        // Past the budget clocks are still right: every actor, at its last change.
        let clock = graph.clock_for_heads(&[head]);
        for actor in &builder.actors {
            let seq = if *actor == merger { rounds + 1 } else { 1 };
            let data = clock.get_for_actor(&builder.index(actor));
            assert_eq!(data.map(|d| d.seq), Some(seq as u64));
        }
        // And the clock of the middle change (the merge of the third round) covers that
        // merge, not the next.
        let middle = all[all.len() / 2];
        let partial = graph.clock_for_heads(&[middle]);
        let merged = partial.get_for_actor(&builder.index(&merger)).map(|d| d.seq);
        assert_eq!(merged, Some(rounds as u64 / 2 + 1));
    }

    struct TestGraphBuilder {
        actors: Vec<ActorId>,
        changes: Vec<Change>,
        seqs_by_actor: BTreeMap<ActorId, u64>,
    }

    impl TestGraphBuilder {
        fn new() -> Self {
            TestGraphBuilder {
                actors: Vec::new(),
                changes: Vec::new(),
                seqs_by_actor: BTreeMap::new(),
            }
        }

        fn actor(&mut self) -> ActorId {
            let actor = ActorId::random();
            self.actors.push(actor.clone());
            actor
        }

        fn index(&self, actor: &ActorId) -> usize {
            self.actors.iter().position(|a| a == actor).unwrap()
        }

        /// Create a change with `num_new_ops` and `parents` for `actor`
        ///
        /// The `start_op` and `seq` of the change will be computed from the
        /// previous changes for the same actor.
        fn change(
            &mut self,
            actor: &ActorId,
            num_new_ops: usize,
            parents: &[ChangeHash],
        ) -> ChangeHash {
            let mut osd = OpSetData::from_actors(self.actors.clone(), TextEncoding::default());
            let key = osd.props.cache("key".to_string());

            let start_op = parents
                .iter()
                .map(|c| {
                    self.changes
                        .iter()
                        .find(|change| change.hash() == *c)
                        .unwrap()
                        .max_op()
                })
                .max()
                .unwrap_or(0)
                + 1;

            let actor_idx = self.index(actor);
            let ops = (0..num_new_ops)
                .map(|opnum| OpBuilder {
                    id: OpId::new(start_op + opnum as u64, actor_idx),
                    action: crate::OpType::Put("value".into()),
                    key: Key::Map(key),
                    insert: false,
                })
                .collect::<Vec<_>>();

            let root = ObjId::root();
            let timestamp = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_millis() as i64;
            let seq = self.seqs_by_actor.entry(actor.clone()).or_insert(1);
            let ops = ops
                .into_iter()
                .map(|op| osd.push(root, op))
                .collect::<Vec<_>>();
            let change = Change::new(
                ChangeBuilder::new()
                    .with_dependencies(parents.to_vec())
                    .with_start_op(NonZeroU64::new(start_op).unwrap())
                    .with_actor(actor.clone())
                    .with_seq(*seq)
                    .with_timestamp(timestamp)
                    .build(ops.iter().map(|op| op_as_actor_id(op.as_op(&osd))))
                    .unwrap(),
            );
            *seq = seq.checked_add(1).unwrap();
            let hash = change.hash();
            self.changes.push(change);
            hash
        }

        fn build(&self) -> ChangeGraph {
            let mut graph = ChangeGraph::new();
            for change in &self.changes {
                let actor_idx = self.index(change.actor_id());
                graph.add_change(change, actor_idx).unwrap();
            }
            graph
        }
    }
}
