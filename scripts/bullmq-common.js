// What the BullMQ measuring scripts share: the connection to REDIS_URL and their no-op
// worker processes (each a fork of the script, run with `--worker CONCURRENCY`).
const { fork } = require('child_process');
const { Worker } = require('bullmq');
const IORedis = require('ioredis');
const url = process.env.REDIS_URL || 'redis://127.0.0.1:6379/0';
const connection = () => new IORedis(url, { maxRetriesPerRequest: null });

// In a worker process: runs a no-op worker on `queue` until told to stop, and returns
// true; in the measuring process, returns false.
function serveAsWorker(queue) {
  if (process.argv[2] !== '--worker') return false;
  const w = new Worker(queue, async (job) => job.data.i, {
    connection: connection(),
    concurrency: Number(process.argv[3]),
  });
  process.on('message', async () => { await w.close(); process.exit(0); });
  w.waitUntilReady().then(() => process.send('ready'));
  return true;
}

// Starts `procs` worker processes of `script`, each of `conc` jobs at once, once ready.
async function startWorkers(script, procs, conc) {
  const ws = [...Array(procs)].map(() => fork(script, ['--worker', String(conc)]));
  await Promise.all(ws.map((w) => new Promise((ok) => w.once('message', ok))));
  return ws;
}

module.exports = { connection, serveAsWorker, startWorkers };
