//! The order a worker with several queues claims from them in.

use rand::Rng;

use crate::job::QueueName;

/// How a worker with several queues ranks them. Within one queue, jobs go
/// by priority, then run-at, then age, whatever the order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum QueueOrder {
    /// In the order of [`WorkerConfig::queues`](super::WorkerConfig::queues):
    /// a queue's jobs are taken only while every queue before it has none
    /// ready, as `rq worker high default low` means. A busy first queue
    /// holds back the others for as long as it stays busy.
    #[default]
    Strict,
    /// A fresh order for every claim, drawn at random by the weights (one
    /// per queue, in the order of the queues; each at least 1): a queue of
    /// weight 3 comes first three times as often as one of weight 1, and no
    /// queue waits for another to empty. Sidekiq's weighted queues.
    Weighted(Vec<u32>),
}

impl QueueOrder {
    /// The queues in the order of one claim.
    pub(super) fn arrange(&self, queues: &[QueueName]) -> Vec<QueueName> {
        match self {
            QueueOrder::Strict => queues.to_vec(),
            QueueOrder::Weighted(weights) => {
                draw_by_weight(queues, weights, &mut rand::rng(), |rng, total| {
                    rng.random_range(0..total)
                })
            }
        }
    }
}

/// The queues drawn one at a time without putting back, each with a chance
/// proportional to its weight among those left. `pick(rng, total)` gives a
/// number in `0..total`.
fn draw_by_weight<R>(
    queues: &[QueueName],
    weights: &[u32],
    rng: &mut R,
    mut pick: impl FnMut(&mut R, u64) -> u64,
) -> Vec<QueueName> {
    let mut left: Vec<(QueueName, u64)> = queues
        .iter()
        .enumerate()
        .map(|(i, q)| {
            (
                q.clone(),
                u64::from(weights.get(i).copied().unwrap_or(1).max(1)),
            )
        })
        .collect();
    let mut order = Vec::with_capacity(left.len());
    while !left.is_empty() {
        let total: u64 = left.iter().map(|(_, w)| w).sum();
        let mut ticket = pick(rng, total);
        let mut chosen = left.len() - 1;
        for (i, (_, weight)) in left.iter().enumerate() {
            if ticket < *weight {
                chosen = i;
                break;
            }
            ticket -= weight;
        }
        order.push(left.remove(chosen).0);
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<QueueName> {
        list.iter().map(|n| QueueName::parse(n).unwrap()).collect()
    }

    #[test]
    fn strict_order_is_the_given_order() {
        let queues = names(&["analysis", "default"]);
        assert_eq!(QueueOrder::Strict.arrange(&queues), queues);
    }

    #[test]
    fn a_weighted_draw_gives_each_queue_first_place_by_its_weight() {
        let queues = names(&["analysis", "conversion", "default"]);
        let weights = [3, 1, 1];
        // Every ticket of the first draw once: the first place goes to each
        // queue exactly as many times as its weight.
        let mut firsts = std::collections::BTreeMap::new();
        for first_ticket in 0..5 {
            let mut draws = vec![first_ticket, 0].into_iter();
            let order = draw_by_weight(&queues, &weights, &mut (), |_, total| {
                draws.next().unwrap_or(0).min(total - 1)
            });
            assert_eq!(order.len(), 3);
            *firsts.entry(order[0].to_string()).or_insert(0) += 1;
        }
        let counts: Vec<(String, i32)> = firsts.into_iter().collect();
        assert_eq!(
            counts,
            [
                ("analysis".to_owned(), 3),
                ("conversion".to_owned(), 1),
                ("default".to_owned(), 1)
            ]
        );
    }

    #[test]
    fn a_weighted_order_holds_every_queue_once() {
        let queues = names(&["analysis", "conversion", "default"]);
        let order = QueueOrder::Weighted(vec![5, 0, 2]).arrange(&queues);
        let mut sorted: Vec<String> = order.iter().map(|q| q.to_string()).collect();
        sorted.sort();
        assert_eq!(sorted, ["analysis", "conversion", "default"]);
    }
}
