// Enqueue-to-completion latency of BullMQ, measured the way `wjp bench` measures
// wjp's: one no-op job at a time, from `add` until its `completed` event reaches a
// follower (QueueEvents), with PROCS worker processes of CONCURRENCY each.
// usage: REDIS_URL=redis://127.0.0.1:PORT NODE_PATH=<dir with bullmq 6> \
//        node scripts/bullmq-latency.js [JOBS] [PROCS] [CONCURRENCY]
// It empties the Redis database it is pointed at: give it a private one. The anchor
// scripts (../shared/bench/anchors/run.sh) install bullmq; their NODE_PATH works here.
const { Queue, QueueEvents } = require('bullmq');
const { connection, serveAsWorker, startWorkers } = require('./bullmq-common');
const QUEUE = 'latency';

if (!serveAsWorker(QUEUE)) {
  (async () => {
    const [jobs, procs, conc] = [1000, 2, 50].map((d, i) => Number(process.argv[2 + i] || d));
    const r = connection();
    await r.flushdb();
    const q = new Queue(QUEUE, { connection: connection() });
    const events = new QueueEvents(QUEUE, { connection: connection() });
    await events.waitUntilReady();
    const ws = await startWorkers(__filename, procs, conc);
    const ms = [];
    for (let i = 0; i < jobs; i++) {
      const t0 = process.hrtime.bigint();
      const job = await q.add('noop', { i });
      await job.waitUntilFinished(events);
      ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    ms.sort((a, b) => a - b);
    const pick = (p) => ms[Math.round((ms.length - 1) * p)];
    console.log(JSON.stringify({
      system: 'bullmq', jobs, procs, concurrency: conc,
      latency_p50_ms: pick(0.5), latency_p99_ms: pick(0.99), latency_max_ms: pick(1),
    }));
    ws.forEach((w) => w.send('stop'));
    await events.close(); await q.close(); await r.quit();
    setTimeout(() => process.exit(0), 500);
  })().catch((e) => { console.error(e); process.exit(1); });
}
