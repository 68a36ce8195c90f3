//! Enumerates a repository's history: which distinct blobs exist, and which commit
//! first introduced each blob at each path.
//!
//! Steps, all on one thread (they are dominated by object decoding, not by the scan):
//! 1. Tips: the selected refs (all of them by default: branches, tags, remotes, notes,
//!    stash, HEAD), peeled to commits.
//! 2. Commits: every commit reachable from the tips. Parents beyond a shallow clone's
//!    boundary are not followed; a missing or corrupt commit is a warning.
//! 3. Order: topological (parents before children), oldest committer date first among
//!    the commits that are ready, so "first" means the earliest commit in history.
//! 4. Trees: in that order, each commit's tree is walked, skipping every subtree that
//!    was already seen at the same path in an earlier commit (its content was attributed
//!    then). A (path, blob) pair met for the first time is introduced by this commit.
//!    The cost is one tree read per distinct (path, tree) pair: proportional to what
//!    history changed, like diffing each commit against its parents, not to the number
//!    of commits times the tree size.
//!
//! Renames are new (path, blob) pairs but the same blob: the blob is scanned once and
//! its findings are reported at both paths. A merge introduces only what neither parent
//! had. Submodule entries (gitlinks) and symbolic links are skipped; submodules are counted.

use std::cmp::Reverse;
use std::collections::hash_map::{Entry, RandomState};
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::hash::BuildHasher;

use gix::ObjectId;
use gix::objs::tree::EntryKind;

use super::{GitError, Progress};

/// Which refs to start from.
#[derive(Debug, Clone, Default)]
pub enum RefSelection {
    /// Every ref and HEAD.
    #[default]
    All,
    /// Only these: ref names (`main`, `refs/tags/v1`, `origin/main`) or commit ids.
    Only(Vec<String>),
}

/// How far from the tips to look.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Depth {
    /// Every commit reachable from the tips.
    #[default]
    History,
    /// Only the tips' own trees (what a checkout of each tip holds); with
    /// [`RefSelection::All`] the tip is HEAD alone. Findings are attributed to the tip.
    TipOnly,
}

/// A (path, commit) where a blob appeared for the first time at that path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Introduction {
    pub path: String,
    /// Index into [`History::commits`].
    pub commit: u32,
}

/// One distinct blob and everywhere it was introduced (at least one place).
#[derive(Debug, Clone)]
pub struct BlobEntry {
    pub id: ObjectId,
    pub introductions: Vec<Introduction>,
}

/// Counters of the enumeration.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct EnumerationStats {
    pub refs: u64,
    pub commits: u64,
    pub trees: u64,
    pub submodules: u64,
    pub errors: u64,
}

/// The enumerated history.
#[derive(Debug, Default)]
pub struct History {
    /// Commit ids in topological order (the order in which introductions were decided).
    pub commits: Vec<ObjectId>,
    /// Distinct blobs in order of first introduction.
    pub blobs: Vec<BlobEntry>,
    pub stats: EnumerationStats,
    pub warnings: Vec<String>,
}

struct CommitNode {
    id: ObjectId,
    tree: ObjectId,
    parents: Vec<ObjectId>,
    time: i64,
}

/// Enumerates the history of `repo` reachable from `refs`, to `depth` (see the module
/// doc). Fails when refs cannot be listed, a named ref does not exist (or, for
/// [`Depth::TipOnly`] without a ref, HEAD is unborn), or `progress` asked to stop.
pub fn enumerate(
    repo: &gix::Repository,
    refs: &RefSelection,
    depth: Depth,
    progress: &dyn Progress,
) -> Result<History, GitError> {
    let mut history = History::default();
    let tips = match (depth, refs) {
        (Depth::TipOnly, RefSelection::All) => {
            let head = repo.head_id().map_err(|_| GitError::UnknownRef("HEAD".into()))?.detach();
            history.stats.refs = 1;
            vec![head]
        }
        _ => resolve_tips(repo, refs, &mut history)?,
    };
    let nodes = load_commits(repo, &tips, depth, &mut history, progress)?;
    history.stats.commits = nodes.len() as u64;
    let order = topological_order(&nodes);
    walk_trees(repo, &nodes, &order, &mut history, progress)?;
    history.commits = order.iter().map(|&i| nodes[i].id).collect();
    Ok(history)
}

fn resolve_tips(repo: &gix::Repository, refs: &RefSelection, history: &mut History) -> Result<Vec<ObjectId>, GitError> {
    let mut tips = Vec::new();
    match refs {
        RefSelection::Only(names) => {
            for name in names {
                tips.push(resolve_one(repo, name)?);
            }
        }
        RefSelection::All => {
            let platform = repo.references().map_err(|e| GitError::Refs(e.to_string()))?;
            let all = platform.all().map_err(|e| GitError::Refs(e.to_string()))?;
            for reference in all {
                let mut reference = match reference {
                    Ok(r) => r,
                    Err(e) => {
                        history.warn(format!("reading a reference: {e}"));
                        continue;
                    }
                };
                let name = reference.name().as_bstr().to_string();
                match reference.peel_to_id() {
                    Ok(id) => tips.push(id.detach()),
                    // History behind it is not scanned: an error, not just a warning.
                    Err(e) => history.error(format!("reference {name}: {e}")),
                }
            }
            // A detached HEAD is reachable from no ref; an unborn one has no id.
            if let Ok(id) = repo.head_id() {
                tips.push(id.detach());
            }
            // Every reference broken (e.g. the pack holding them is corrupt): reporting
            // a clean scan of nothing would be a lie.
            if tips.is_empty() && history.stats.errors > 0 {
                return Err(GitError::Refs(format!("no reference could be resolved ({})", history.warnings[0])));
            }
        }
    }
    history.stats.refs = tips.len() as u64;
    tips.sort();
    tips.dedup();
    Ok(tips)
}

/// A ref name (as `git rev-parse` would expand it) or a full commit id.
fn resolve_one(repo: &gix::Repository, name: &str) -> Result<ObjectId, GitError> {
    if let Ok(mut reference) = repo.find_reference(name) {
        return reference.peel_to_id().map(|id| id.detach()).map_err(|_| GitError::UnknownRef(name.to_string()));
    }
    match ObjectId::from_hex(name.as_bytes()) {
        Ok(id) if repo.has_object(id) => Ok(id),
        _ => Err(GitError::UnknownRef(name.to_string())),
    }
}

/// Reads every commit reachable from `tips` (tags peeled to what they point at); with
/// [`Depth::TipOnly`] only the tips.
fn load_commits(
    repo: &gix::Repository,
    tips: &[ObjectId],
    depth: Depth,
    history: &mut History,
    progress: &dyn Progress,
) -> Result<Vec<CommitNode>, GitError> {
    let shallow: HashSet<ObjectId> = match repo.shallow_commits() {
        Ok(Some(commits)) => commits.iter().copied().collect(),
        Ok(None) => HashSet::new(),
        Err(e) => {
            history.warn(format!("reading the shallow file: {e}"));
            HashSet::new()
        }
    };
    let mut seen: HashSet<ObjectId> = tips.iter().copied().collect();
    let mut stack: Vec<ObjectId> = tips.to_vec();
    let mut nodes = Vec::new();
    while let Some(id) = stack.pop() {
        let Some(mut node) = read_commit(repo, id, history) else { continue };
        if shallow.contains(&id) || depth == Depth::TipOnly {
            node.parents.clear();
        }
        for parent in &node.parents {
            if seen.insert(*parent) {
                stack.push(*parent);
            }
        }
        nodes.push(node);
        if nodes.len().is_multiple_of(1024) {
            progress.enumerated(nodes.len() as u64, 0);
            if progress.stop_requested() {
                return Err(GitError::Stopped);
            }
        }
    }
    Ok(nodes)
}

/// Reads one commit; a tip that is a tag is peeled here. `None` (with a warning) for an
/// object that is missing, corrupt or not a commit.
fn read_commit(repo: &gix::Repository, id: ObjectId, history: &mut History) -> Option<CommitNode> {
    let object = match repo.find_object(id) {
        Ok(object) => object,
        Err(e) => {
            history.error(format!("commit {id}: {e}"));
            return None;
        }
    };
    let object = match object.peel_tags_to_end() {
        Ok(object) => object,
        Err(e) => {
            history.error(format!("tag {id}: {e}"));
            return None;
        }
    };
    let commit = match object.try_into_commit() {
        Ok(commit) => commit,
        // A tag of a tree or a blob: nothing to attribute it to.
        Err(_) => return None,
    };
    let decoded = match commit.decode() {
        Ok(decoded) => decoded,
        Err(e) => {
            history.error(format!("commit {id}: {e}"));
            return None;
        }
    };
    Some(CommitNode {
        id: commit.id,
        tree: decoded.tree(),
        parents: decoded.parents().collect(),
        time: decoded.time().map(|t| t.seconds).unwrap_or(0),
    })
}

/// Kahn's algorithm: a commit is emitted once all its (loaded) parents are; among the
/// ready ones the oldest committer date goes first (ties by id, so the order is stable).
fn topological_order(nodes: &[CommitNode]) -> Vec<usize> {
    let index: HashMap<ObjectId, usize> = nodes.iter().enumerate().map(|(i, n)| (n.id, i)).collect();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    let mut waiting: Vec<usize> = vec![0; nodes.len()];
    for (child, node) in nodes.iter().enumerate() {
        let mut parents: Vec<usize> = node.parents.iter().filter_map(|p| index.get(p).copied()).collect();
        parents.sort_unstable();
        parents.dedup();
        waiting[child] = parents.len();
        for parent in parents {
            children[parent].push(child);
        }
    }
    let mut ready: BinaryHeap<Reverse<(i64, ObjectId, usize)>> =
        (0..nodes.len()).filter(|&i| waiting[i] == 0).map(|i| Reverse((nodes[i].time, nodes[i].id, i))).collect();
    let mut order = Vec::with_capacity(nodes.len());
    while let Some(Reverse((_, _, i))) = ready.pop() {
        order.push(i);
        for &child in &children[i] {
            waiting[child] -= 1;
            if waiting[child] == 0 {
                ready.push(Reverse((nodes[child].time, nodes[child].id, child)));
            }
        }
    }
    order
}

/// Walks each commit's tree in `order`, recording first introductions (module doc, step 4).
///
/// Seen (path, object) pairs are kept as (64-bit hash of the path, object id) to bound
/// memory on large histories; two paths whose hashes collide while holding the very
/// same tree or blob would merge (probability about n²/2⁶⁵ for n pairs).
fn walk_trees(
    repo: &gix::Repository,
    nodes: &[CommitNode],
    order: &[usize],
    history: &mut History,
    progress: &dyn Progress,
) -> Result<(), GitError> {
    let hasher = RandomState::new();
    let mut seen: HashSet<(u64, ObjectId)> = HashSet::new();
    let mut blob_index: HashMap<ObjectId, usize> = HashMap::new();
    let hash_kind = repo.object_hash();
    let mut stack: Vec<(String, ObjectId)> = Vec::new();
    for (position, &i) in order.iter().enumerate() {
        let commit = position as u32;
        stack.push((String::new(), nodes[i].tree));
        while let Some((dir, tree)) = stack.pop() {
            if !seen.insert((hasher.hash_one(dir.as_bytes()), tree)) {
                continue;
            }
            history.stats.trees += 1;
            let object = match repo.find_object(tree) {
                Ok(object) => object,
                Err(e) => {
                    history.error(format!("tree {tree} at {}: {e}", shown_dir(&dir)));
                    continue;
                }
            };
            for entry in gix::objs::TreeRefIter::from_bytes(&object.data, hash_kind) {
                let entry = match entry {
                    Ok(entry) => entry,
                    Err(e) => {
                        history.error(format!("tree {tree} at {}: {e}", shown_dir(&dir)));
                        break;
                    }
                };
                let path = join(&dir, &entry.filename.to_string());
                let id = entry.oid.to_owned();
                match entry.mode.kind() {
                    EntryKind::Tree => stack.push((path, id)),
                    EntryKind::Blob | EntryKind::BlobExecutable => {
                        if seen.insert((hasher.hash_one(path.as_bytes()), id)) {
                            let introduction = Introduction { path, commit };
                            match blob_index.entry(id) {
                                Entry::Occupied(slot) => history.blobs[*slot.get()].introductions.push(introduction),
                                Entry::Vacant(slot) => {
                                    slot.insert(history.blobs.len());
                                    history.blobs.push(BlobEntry { id, introductions: vec![introduction] });
                                }
                            }
                        }
                    }
                    EntryKind::Commit => {
                        if seen.insert((hasher.hash_one(path.as_bytes()), id)) {
                            history.stats.submodules += 1;
                        }
                    }
                    EntryKind::Link => {}
                }
            }
        }
        if position.is_multiple_of(256) {
            progress.enumerated(position as u64, history.stats.trees + history.blobs.len() as u64);
        }
        if progress.stop_requested() {
            return Err(GitError::Stopped);
        }
    }
    progress.enumerated(order.len() as u64, history.stats.trees + history.blobs.len() as u64);
    Ok(())
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() { name.to_string() } else { format!("{dir}/{name}") }
}

fn shown_dir(dir: &str) -> &str {
    if dir.is_empty() { "/" } else { dir }
}

impl History {
    fn warn(&mut self, message: String) {
        self.warnings.push(message);
    }

    fn error(&mut self, message: String) {
        self.stats.errors += 1;
        self.warnings.push(message);
    }
}
