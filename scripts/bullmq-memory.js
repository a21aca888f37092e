// Redis memory per queued and per retained completed no-op job of BullMQ, measured the
// way `wjp bench` measures wjp's: `used_memory` of `INFO memory` before and after SINGLE
// jobs added one call each and JOBS more in calls of BATCH, with no worker running;
// then after PROCS worker processes of CONCURRENCY each drained them (BullMQ keeps
// completed jobs by default, as wjp keeps them until their result TTL).
// PAYLOAD_BYTES (0 by default) gives every job's data a `file` string of that many bytes,
// as `wjp bench --payload-bytes` does.
// usage: REDIS_URL=redis://127.0.0.1:PORT NODE_PATH=<dir with bullmq 6> \
//        node scripts/bullmq-memory.js [JOBS] [SINGLE] [BATCH] [PROCS] [CONCURRENCY] [PAYLOAD_BYTES]
// It empties the Redis database it is pointed at: give it a private one. The anchor
// scripts (../shared/bench/anchors/run.sh) install bullmq; their NODE_PATH works here.
const { Queue } = require('bullmq');
const { connection, serveAsWorker, startWorkers } = require('./bullmq-common');
const QUEUE = 'memory';

if (!serveAsWorker(QUEUE)) {
  (async () => {
    const [jobs, single, batch, procs, conc, payloadBytes] = [50000, 500, 100, 2, 50, 0]
      .map((d, i) => Number(process.argv[2 + i] || d));
    const data = (i) => (payloadBytes > 0 ? { i, file: 'f'.repeat(payloadBytes) } : { i });
    const r = connection();
    await r.flushdb();
    const usedMemory = async () => Number((await r.info('memory')).match(/used_memory:(\d+)/)[1]);
    const q = new Queue(QUEUE, { connection: connection() });
    await q.waitUntilReady();
    // The queue's own keys (meta, event stream) exist before the first job, as wjp's
    // connection and function library exist before its bench measures.
    await q.add('noop', { i: -1 });
    await q.drain();
    const before = await usedMemory();
    for (let i = 0; i < single; i++) await q.add('noop', data(i));
    for (let i = 0; i < jobs; i += batch) {
      const n = Math.min(batch, jobs - i);
      await q.addBulk([...Array(n)].map((_, k) => ({ name: 'noop', data: data(single + i + k) })));
    }
    const total = single + jobs;
    const queued = await usedMemory();
    const ws = await startWorkers(__filename, procs, conc);
    while ((await q.getCompletedCount()) < total) await new Promise((ok) => setTimeout(ok, 50));
    ws.forEach((w) => w.send('stop'));
    await Promise.all(ws.map((w) => new Promise((ok) => w.once('exit', ok))));
    const completed = await usedMemory();
    console.log(JSON.stringify({
      system: 'bullmq', jobs: total, procs, concurrency: conc, payload_bytes: payloadBytes,
      memory_bytes_per_queued_job: (queued - before) / total,
      memory_bytes_per_completed_job: (completed - before) / total,
    }));
    await q.close(); await r.quit();
    process.exit(0);
  })().catch((e) => { console.error(e); process.exit(1); });
}
