//! Which queues exist, which job kinds a program registered, and the defaults
//! each kind gets. The engine knows no kind by name except its own built-in
//! test kinds; programs (the `wjp` binary) register theirs.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::error::{QueueError, Result};
use crate::job::{Kind, QueueName};

/// The queues of a waterjet shop, in the order `wjp info` lists them.
pub const STANDARD_QUEUES: [&str; 5] = ["default", "analysis", "conversion", "nesting", "gcode"];

#[derive(Debug, Clone, PartialEq)]
pub struct Defaults {
    pub timeout: Duration,
    pub result_ttl: Duration,
    /// How long failed and cancelled jobs stay in the failed registry. Python RQ
    /// kept them a year, which grew Redis without bound; a week is enough to
    /// look into a failure.
    pub failure_ttl: Duration,
    pub max_attempts: u32,
    pub backoff: Duration,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            timeout: Duration::from_secs(300),
            result_ttl: Duration::from_secs(3600),
            failure_ttl: Duration::from_secs(7 * 24 * 3600),
            max_attempts: 1,
            backoff: Duration::from_secs(10),
        }
    }
}

/// What a registered kind gets unless the request says otherwise.
#[derive(Debug, Clone, PartialEq)]
pub struct KindSpec {
    pub kind: Kind,
    pub queue: QueueName,
    pub timeout: Duration,
    pub max_attempts: u32,
}

#[derive(Debug, Clone)]
pub struct Catalog {
    queues: Vec<QueueName>,
    kinds: BTreeMap<Kind, KindSpec>,
    pub defaults: Defaults,
}

impl Default for Catalog {
    fn default() -> Self {
        Catalog::standard()
    }
}

impl Catalog {
    /// The five standard queues and no kinds.
    pub fn standard() -> Self {
        Catalog {
            queues: STANDARD_QUEUES
                .iter()
                .map(|q| QueueName::parse(q).expect("standard queue names are valid"))
                .collect(),
            kinds: BTreeMap::new(),
            defaults: Defaults::default(),
        }
    }

    /// Registers a kind routed to `queue` with the given timeout (or the
    /// default). Re-registering a kind replaces it.
    pub fn register(
        &mut self,
        kind: &str,
        queue: &str,
        timeout: Option<Duration>,
    ) -> Result<&mut Self> {
        let kind = Kind::parse(kind)?;
        let queue = self.queue(queue)?;
        let spec = KindSpec {
            kind: kind.clone(),
            queue,
            timeout: timeout.unwrap_or(self.defaults.timeout),
            max_attempts: self.defaults.max_attempts,
        };
        self.kinds.insert(kind, spec);
        Ok(self)
    }

    pub fn queues(&self) -> &[QueueName] {
        &self.queues
    }

    pub fn kinds(&self) -> impl Iterator<Item = &KindSpec> {
        self.kinds.values()
    }

    /// Looks up a queue by name, refusing names that are not configured.
    pub fn queue(&self, name: &str) -> Result<QueueName> {
        self.queues
            .iter()
            .find(|q| q.as_str() == name)
            .cloned()
            .ok_or_else(|| QueueError::UnknownQueue {
                queue: name.chars().take(100).collect(),
                known: self.queue_list(),
            })
    }

    /// Parses a comma-separated list such as `analysis,conversion`.
    pub fn parse_queue_list(&self, list: &str) -> Result<Vec<QueueName>> {
        let mut queues = Vec::new();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let queue = self.queue(name)?;
            if !queues.contains(&queue) {
                queues.push(queue);
            }
        }
        if queues.is_empty() {
            return Err(QueueError::UnknownQueue {
                queue: list.to_owned(),
                known: self.queue_list(),
            });
        }
        Ok(queues)
    }

    pub fn kind(&self, name: &str) -> Result<&KindSpec> {
        self.kinds
            .iter()
            .find(|(k, _)| k.as_str() == name)
            .map(|(_, spec)| spec)
            .ok_or_else(|| QueueError::UnknownKind {
                kind: name.chars().take(100).collect(),
                known: self
                    .kinds
                    .keys()
                    .map(Kind::as_str)
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    fn queue_list(&self) -> String {
        self.queues
            .iter()
            .map(QueueName::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_queues_are_named_in_the_error() {
        let catalog = Catalog::standard();
        let err = catalog.parse_queue_list("analysis,cutting").unwrap_err();
        assert_eq!(err.code(), "unknown_queue");
        let text = err.to_string();
        assert!(
            text.contains("\"cutting\"") && text.contains("analysis"),
            "{text}"
        );
        assert_eq!(catalog.parse_queue_list("gcode, gcode").unwrap().len(), 1);
    }
}
