//! Stock pools and a cancelled job's result: an item is taken by one holder
//! of many racing ones, on separate connections as separate processes
//! would; a hold runs out; only the holder settles; a pool is bounded; a
//! handler stopped by a cancel keeps what it answered.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::Barrier;
use wjp_queue::{CancelOutcome, ErrorKind, HandlerError, Handlers, Queue, Status, Timestamp};

use super::{
    catalog, enqueue_id, fast_config, request, start_worker, wait_for_job, wait_for_status, Store,
};

const POOL: &str = "offcuts";

fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// Four holders, each on its own connection, ask for the same three items
/// at once, twenty times over: every item goes to exactly one of them.
pub async fn racing_holders_take_each_stock_item_once(store: &dyn Store) {
    let mut queues = Vec::new();
    for _ in 0..4 {
        queues.push(Queue::new(store.connect().await, catalog()));
    }
    for round in 0..20 {
        let items = ids(&[
            &format!("a{round}"),
            &format!("b{round}"),
            &format!("c{round}"),
        ]);
        for id in &items {
            assert!(queues[0].stock_add(POOL, id, "{}", 1000).await.unwrap());
        }
        let barrier = Arc::new(Barrier::new(queues.len()));
        let takers: Vec<_> = queues
            .iter()
            .enumerate()
            .map(|(n, queue)| {
                let (queue, barrier, items) = (queue.clone(), barrier.clone(), items.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    queue
                        .stock_take(POOL, &items, &format!("job-{n}"), Duration::from_secs(60))
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut taken = Vec::new();
        for taker in takers {
            taken.extend(taker.await.unwrap());
        }
        taken.sort();
        let mut expected = items.clone();
        expected.sort();
        assert_eq!(taken, expected, "round {round}: each item once");
    }
}

/// A hold keeps others out until it runs out; its holder may take its
/// items again; only the holder uses up or gives back; a removed item is
/// gone; a full pool takes no more.
pub async fn a_stock_hold_runs_out_and_only_its_holder_settles(store: &dyn Store) {
    let queue = Queue::new(store.connect().await, catalog());
    let backend = queue.backend();
    for id in ["x", "y", "z"] {
        assert!(queue.stock_add(POOL, id, r#"{"w":1}"#, 3).await.unwrap());
    }
    assert!(!queue.stock_add(POOL, "w", "{}", 3).await.unwrap(), "full");
    assert!(
        !queue.stock_add(POOL, "x", "{}", 10).await.unwrap(),
        "id taken"
    );
    let all = ids(&["x", "y", "z"]);
    let (t0, until) = (Timestamp(1_000_000), Timestamp(1_060_000));
    let got = backend
        .stock_take(POOL, &ids(&["x", "nope"]), "one", until, t0)
        .await
        .unwrap();
    assert_eq!(got, ids(&["x"]));
    let got = backend
        .stock_take(POOL, &all, "two", until, t0)
        .await
        .unwrap();
    assert_eq!(got, ids(&["y", "z"]), "x is held by one");
    let got = backend
        .stock_take(POOL, &ids(&["x"]), "one", until, t0)
        .await
        .unwrap();
    assert_eq!(got, ids(&["x"]), "its holder takes it again");
    let later = Timestamp(until.millis());
    let got = backend
        .stock_take(POOL, &ids(&["x"]), "three", Timestamp(2_000_000), later)
        .await
        .unwrap();
    assert_eq!(got, ids(&["x"]), "the hold ran out");
    // "one" no longer holds x: its settle changes nothing.
    queue
        .stock_settle(POOL, "one", &ids(&["x"]), &[])
        .await
        .unwrap();
    // "two" uses y and gives z back.
    queue
        .stock_settle(POOL, "two", &ids(&["y"]), &ids(&["z"]))
        .await
        .unwrap();
    let items = queue.stock(POOL).await.unwrap();
    let listed: Vec<(&str, Option<&str>)> = items
        .iter()
        .map(|i| (i.id.as_str(), i.holder.as_deref()))
        .collect();
    assert_eq!(listed, vec![("x", Some("three")), ("z", None)]);
    assert_eq!(items[0].body, r#"{"w":1}"#);
    assert!(queue.stock_remove(POOL, "x").await.unwrap());
    assert!(!queue.stock_remove(POOL, "x").await.unwrap());
    assert_eq!(queue.stock(POOL).await.unwrap().len(), 1);
    // Bad names, bodies and holders are refused before the store is asked.
    for bad in ["", "a/b", "../x", &"n".repeat(65)] {
        let e = queue.stock_add(POOL, bad, "{}", 10).await.unwrap_err();
        assert_eq!(e.code(), "invalid_request", "{bad:?}");
        assert!(queue.stock(bad).await.is_err(), "{bad:?}");
    }
    assert!(queue
        .stock_add(POOL, "big", &format!("\"{}\"", "x".repeat(17_000)), 10)
        .await
        .is_err());
    assert!(queue.stock_add(POOL, "text", "not json", 10).await.is_err());
    let e = queue
        .stock_take(POOL, &ids(&["z"]), "bad\nholder", Duration::from_secs(1))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "invalid_request");
}

/// A handler that hears of its cancel and answers with its result so far
/// (or finishes just then) ends the job `cancelled` with that result.
pub async fn a_cancelled_handler_keeps_the_result_it_answers(store: &dyn Store) {
    let queue = Queue::new(store.connect().await, catalog());
    let mut handlers = Handlers::new();
    handlers
        .add("record", |ctx: &wjp_queue::JobContext| {
            while !ctx.is_cancelled() {
                std::thread::sleep(Duration::from_millis(5));
            }
            if ctx.job().payload["finish"] == json!(true) {
                Ok(json!({"best": "finished"}))
            } else {
                Err(HandlerError::CancelledWithResult(json!({"best": 7})))
            }
        })
        .unwrap();
    // The handler's answer is awaited for the stuck grace: on a loaded
    // machine its thread may wake long after the cancel, and this test is
    // about keeping the answer, not about how long it is awaited.
    let mut config = fast_config("w-keep", &["analysis"]);
    config.stuck_grace = Duration::from_secs(20);
    let worker = start_worker(&queue, handlers, config);
    for (payload, kept) in [
        (json!({}), json!({"best": 7})),
        (json!({"finish": true}), json!({"best": "finished"})),
    ] {
        let id = enqueue_id(&queue, request("record", payload)).await;
        wait_for_status(&queue, &id, Status::Running).await;
        assert_eq!(queue.cancel(&id).await.unwrap(), CancelOutcome::Requested);
        let job = wait_for_job(&queue, &id, Duration::from_secs(20), |j| {
            j.status().is_terminal()
        })
        .await;
        assert_eq!(job.status(), Status::Cancelled);
        assert_eq!(job.state.error.map(|e| e.kind), Some(ErrorKind::Cancelled));
        assert_eq!(job.state.result, Some(kept));
    }
    worker.stop().await;
}
