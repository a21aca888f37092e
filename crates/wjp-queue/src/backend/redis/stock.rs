//! Stock (`crate::stock`): per pool, two hashes under one hash tag of
//! their own, `wjp:stock:{<pool>}:items` (id -> body) and
//! `wjp:stock:{<pool>}:holds` (id -> `<held until ms>\n<holder>`). Every
//! write is one short `EVAL` over those two keys (one Cluster slot), so a
//! take checks and holds each item atomically. Like schedules, stock is
//! global: no queue's hash tag, and no function of the library (whose
//! functions all take a queue's keys).

use std::collections::HashMap;

use super::reply::{array, hash, int, text};
use super::RedisBackend;
use crate::error::Result;
use crate::job::Timestamp;
use crate::stock::StockItem;

/// Adds ARGV[2] as item ARGV[1] unless the pool holds ARGV[3] items or the
/// id is there; 1 if it did.
const ADD: &str = r"
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
return redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
";

/// Holds for ARGV[1] until ARGV[2] each item of ARGV[4..] that exists and
/// is free at ARGV[3] (no hold, an expired one, or ARGV[1]'s own); the ids
/// held.
const TAKE: &str = r"
local got = {}
local now = tonumber(ARGV[3])
for i = 4, #ARGV do
  local id = ARGV[i]
  if redis.call('HEXISTS', KEYS[1], id) == 1 then
    local free = true
    local hold = redis.call('HGET', KEYS[2], id)
    if hold then
      local nl = string.find(hold, '\n', 1, true)
      local untl = tonumber(string.sub(hold, 1, nl - 1))
      free = string.sub(hold, nl + 1) == ARGV[1] or untl <= now
    end
    if free then
      redis.call('HSET', KEYS[2], id, ARGV[2] .. '\n' .. ARGV[1])
      got[#got + 1] = id
    end
  end
end
return got
";

/// Of the items ARGV[1] holds, deletes the first ARGV[2] ids of ARGV[3..]
/// and frees the rest.
const SETTLE: &str = r"
local used = tonumber(ARGV[2])
for i = 3, #ARGV do
  local id = ARGV[i]
  local hold = redis.call('HGET', KEYS[2], id)
  if hold then
    local nl = string.find(hold, '\n', 1, true)
    if string.sub(hold, nl + 1) == ARGV[1] then
      redis.call('HDEL', KEYS[2], id)
      if i - 2 <= used then redis.call('HDEL', KEYS[1], id) end
    end
  end
end
return 1
";

/// Deletes item ARGV[1] and its hold; 1 if it existed.
const REMOVE: &str = r"
redis.call('HDEL', KEYS[2], ARGV[1])
return redis.call('HDEL', KEYS[1], ARGV[1])
";

fn keys(pool: &str) -> [String; 2] {
    [
        format!("wjp:stock:{{{pool}}}:items"),
        format!("wjp:stock:{{{pool}}}:holds"),
    ]
}

fn eval(script: &str, pool: &str) -> redis::Cmd {
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(script).arg(2).arg(&keys(pool)[..]);
    cmd
}

impl RedisBackend {
    pub(super) async fn add_stock(
        &self,
        pool: &str,
        id: &str,
        body: &str,
        max_items: usize,
    ) -> Result<bool> {
        let mut cmd = eval(ADD, pool);
        cmd.arg(id).arg(body).arg(max_items);
        Ok(int(&self.query(cmd).await?)? == 1)
    }

    pub(super) async fn stock_of(&self, pool: &str) -> Result<Vec<StockItem>> {
        let [items_key, holds_key] = keys(pool);
        let mut cmd = redis::cmd("HGETALL");
        cmd.arg(&items_key);
        let items = hash(self.query(cmd).await?)?;
        let mut cmd = redis::cmd("HGETALL");
        cmd.arg(&holds_key);
        let holds: HashMap<String, String> = hash(self.query(cmd).await?)?;
        let mut out: Vec<StockItem> = items
            .into_iter()
            .map(|(id, body)| {
                let hold = holds.get(&id).and_then(|h| h.split_once('\n'));
                StockItem {
                    holder: hold.map(|(_, who)| who.to_owned()),
                    held_until: hold.and_then(|(until, _)| until.parse().ok().map(Timestamp)),
                    id,
                    body,
                }
            })
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    pub(super) async fn take_stock(
        &self,
        pool: &str,
        ids: &[String],
        holder: &str,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<Vec<String>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut cmd = eval(TAKE, pool);
        cmd.arg(holder)
            .arg(until.millis())
            .arg(now.millis())
            .arg(ids);
        array(self.query(cmd).await?)?.iter().map(text).collect()
    }

    pub(super) async fn settle_stock(
        &self,
        pool: &str,
        holder: &str,
        used: &[String],
        released: &[String],
    ) -> Result<()> {
        if used.is_empty() && released.is_empty() {
            return Ok(());
        }
        let mut cmd = eval(SETTLE, pool);
        cmd.arg(holder).arg(used.len()).arg(used).arg(released);
        self.query(cmd).await?;
        Ok(())
    }

    pub(super) async fn remove_stock(&self, pool: &str, id: &str) -> Result<bool> {
        let mut cmd = eval(REMOVE, pool);
        cmd.arg(id);
        Ok(int(&self.query(cmd).await?)? == 1)
    }
}
