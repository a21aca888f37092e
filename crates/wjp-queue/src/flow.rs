//! Flows: a graph of jobs submitted together, its nodes named, each
//! naming the nodes it waits for.
//!
//! A flow is checked whole before anything is stored: its size
//! ([`crate::Quotas::max_flow_jobs`]), each node's name (unique, of safe
//! characters), each `after` (names of other nodes of the flow), and the
//! graph (no cycle: [`order`] sorts it parents first, or names a node on a
//! cycle). Each node is then made a job through [`crate::state::new_job`],
//! like any request, and the jobs go to the backend as one batch, parents
//! before children. On SQLite that batch is one transaction; on Redis, as
//! for any batch, one call per queue (see ARCHITECTURE.md).

use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::error::{QueueError, Result};
use crate::job::{Job, JobRequest};

/// Longest node name, in characters.
pub const MAX_NODE_NAME_CHARS: usize = 64;

/// A graph of jobs to submit at once.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowRequest {
    /// The nodes, in any order; children name their parents by node name.
    pub jobs: Vec<FlowNode>,
}

/// One node of a flow: a name, and a job request whose `after` names
/// other nodes of the flow, or jobs stored before the flow (by id: a name
/// that is no node's is taken for one, and refused, naming the node, when
/// no such job exists).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlowNode {
    /// The node's name, unique in its flow: 1 to 64 characters of letters,
    /// digits, `_`, `.` or `-`.
    pub name: String,
    /// The job; its `after` holds node names.
    #[serde(flatten)]
    pub job: JobRequest,
}

/// Read as an object: `name`, and the fields of a [`JobRequest`] beside
/// it, unknown ones refused (serde's `flatten` would let them pass).
impl<'de> Deserialize<'de> for FlowNode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut fields = serde_json::Map::<String, serde_json::Value>::deserialize(deserializer)?;
        let name = match fields.remove("name") {
            Some(serde_json::Value::String(name)) => name,
            Some(_) => return Err(D::Error::custom("a node's `name` must be a string")),
            None => return Err(D::Error::missing_field("name")),
        };
        let job = JobRequest::deserialize(serde_json::Value::Object(fields))
            .map_err(|e| D::Error::custom(format!("node {name:?}: {e}")))?;
        Ok(FlowNode { name, job })
    }
}

/// One node of a submitted flow, as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlowJob {
    /// The node's name.
    pub name: String,
    /// The job stored for it (or the existing job its id named).
    pub job: Job,
    /// `false` when a job with the node's id already existed and is
    /// returned instead.
    pub created: bool,
}

/// Checks a node's name.
fn check_name(name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.chars().count() <= MAX_NODE_NAME_CHARS
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if valid {
        Ok(())
    } else {
        Err(QueueError::InvalidFlow(format!(
            "node name {:?} is not valid: use 1 to {MAX_NODE_NAME_CHARS} characters of \
             letters, digits, '_', '.' or '-'",
            name.chars().take(100).collect::<String>()
        )))
    }
}

/// The flow's nodes parents first (the positions in `request.jobs`), after
/// checking its size, names and references; a cycle is refused, naming a
/// node on it.
pub fn order(request: &FlowRequest, max_jobs: usize) -> Result<Vec<usize>> {
    let nodes = &request.jobs;
    if nodes.is_empty() {
        return Err(QueueError::InvalidFlow(
            "a flow needs at least one job".into(),
        ));
    }
    if nodes.len() > max_jobs {
        return Err(QueueError::InvalidFlow(format!(
            "the flow has {} jobs; a flow may hold at most {max_jobs} on this server \
             (--max-flow-jobs)",
            nodes.len()
        )));
    }
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(nodes.len());
    for (i, node) in nodes.iter().enumerate() {
        check_name(&node.name)?;
        if index.insert(node.name.as_str(), i).is_some() {
            return Err(QueueError::InvalidFlow(format!(
                "two nodes are named {:?}; names must be unique in a flow",
                node.name
            )));
        }
    }
    // Edges parent -> children, and each node's count of parents left.
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    let mut parents_left: Vec<usize> = vec![0; nodes.len()];
    for (i, node) in nodes.iter().enumerate() {
        let mut seen: Vec<usize> = Vec::new();
        for parent in &node.job.after {
            // Not a node: the id of a stored job, checked when it is stored.
            let Some(&p) = index.get(parent.as_str()) else {
                continue;
            };
            if p == i {
                return Err(QueueError::InvalidFlow(format!(
                    "node {:?} waits for itself",
                    node.name
                )));
            }
            if !seen.contains(&p) {
                seen.push(p);
                children[p].push(i);
                parents_left[i] += 1;
            }
        }
    }
    // Kahn's sort: what is left unsorted lies on a cycle or after one.
    let mut ready: VecDeque<usize> = (0..nodes.len()).filter(|i| parents_left[*i] == 0).collect();
    let mut sorted = Vec::with_capacity(nodes.len());
    while let Some(i) = ready.pop_front() {
        sorted.push(i);
        for &c in &children[i] {
            parents_left[c] -= 1;
            if parents_left[c] == 0 {
                ready.push_back(c);
            }
        }
    }
    if sorted.len() < nodes.len() {
        let on_cycle = cycle_member(&children, &parents_left);
        return Err(QueueError::InvalidFlow(format!(
            "the flow has a cycle through node {:?}: a job cannot wait for itself, however \
             indirectly",
            nodes[on_cycle].name
        )));
    }
    Ok(sorted)
}

/// A node that lies on a cycle, among those Kahn's sort left: each of
/// them has a parent that was left too (else it would have been sorted),
/// so walking parents from one of them must come back to a node already
/// seen, and that node is on a cycle.
fn cycle_member(children: &[Vec<usize>], parents_left: &[usize]) -> usize {
    let left = |i: usize| parents_left[i] > 0;
    let mut parents: Vec<Vec<usize>> = vec![Vec::new(); children.len()];
    for (p, list) in children.iter().enumerate() {
        for &c in list {
            parents[c].push(p);
        }
    }
    let Some(mut at) = (0..parents_left.len()).find(|i| left(*i)) else {
        return 0;
    };
    let mut seen = vec![false; parents_left.len()];
    while !seen[at] {
        seen[at] = true;
        match parents[at].iter().copied().find(|p| left(*p)) {
            Some(next) => at = next,
            None => break,
        }
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(name: &str, after: &[&str]) -> FlowNode {
        let mut job = JobRequest::new("noop", json!({}));
        job.after = after.iter().map(|s| s.to_string()).collect();
        FlowNode {
            name: name.into(),
            job,
        }
    }

    fn flow(nodes: Vec<FlowNode>) -> FlowRequest {
        FlowRequest { jobs: nodes }
    }

    #[test]
    fn nodes_come_parents_first() {
        let f = flow(vec![
            node("c", &["b"]),
            node("b", &["a"]),
            node("a", &[]),
            node("d", &["a", "c"]),
        ]);
        let sorted = order(&f, 10).unwrap();
        let pos = |name: &str| sorted.iter().position(|i| f.jobs[*i].name == name).unwrap();
        assert!(pos("a") < pos("b") && pos("b") < pos("c") && pos("c") < pos("d"));
    }

    #[test]
    fn a_cycle_is_refused_naming_a_node_on_it() {
        let f = flow(vec![
            node("root", &[]),
            node("x", &["root", "z"]),
            node("y", &["x"]),
            node("z", &["y"]),
            node("after", &["z"]),
        ]);
        let message = order(&f, 10).unwrap_err().to_string();
        assert!(
            ["\"x\"", "\"y\"", "\"z\""]
                .iter()
                .any(|n| message.contains(n)),
            "{message}"
        );
        assert!(message.contains("cycle"), "{message}");
    }

    #[test]
    fn a_node_with_an_unknown_field_is_refused() {
        let text = r#"{"jobs": [{"name": "a", "kind": "noop", "colour": "red"}]}"#;
        let e = serde_json::from_str::<FlowRequest>(text).unwrap_err();
        assert!(e.to_string().contains("colour"), "{e}");
        let ok = r#"{"jobs": [{"name": "a", "kind": "noop", "after": ["b"]}]}"#;
        let flow: FlowRequest = serde_json::from_str(ok).unwrap();
        assert_eq!(flow.jobs[0].job.after, ["b"]);
    }

    #[test]
    fn bad_names_and_references_are_named() {
        let dup = flow(vec![node("a", &[]), node("a", &[])]);
        assert!(order(&dup, 10).unwrap_err().to_string().contains("\"a\""));
        let selfish = flow(vec![node("a", &["a"])]);
        assert!(order(&selfish, 10)
            .unwrap_err()
            .to_string()
            .contains("itself"));
        for odd in ["", "a b", "a/b", "é", "x\n", &"n".repeat(65)] {
            assert!(order(&flow(vec![node(odd, &[])]), 10).is_err(), "{odd:?}");
        }
        let big = flow((0..11).map(|i| node(&format!("n{i}"), &[])).collect());
        assert!(order(&big, 10)
            .unwrap_err()
            .to_string()
            .contains("at most 10"));
    }
}
