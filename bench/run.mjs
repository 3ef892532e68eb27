#!/usr/bin/env node
// Tandem's benchmark: a real hub and two real agents (A and B) on temporary folders on
// loopback, workloads W1-W5, memory and scale, and baselines measured in the same run.
//
//   npm run bench                  full run (needs ~15 GiB of free disk, several minutes)
//   npm run bench -- --quick       small sizes, one run each: a fast check that it works
//   npm run bench -- --only W3     one workload (W1..W5, scale, baselines), or several: W2,W3
//   npm run bench -- --json        one JSON document on stdout instead of the table
//   npm run bench -- --keep        keep the temporary folders (removed by default; a full
//                                  run leaves ~15 GiB: remove them before the next one)
//   npm run bench -- --logs DIR    write what the hub (every request) and agents print to DIR
//                                  (with TANDEM_TRACE=1 agents also time each round's phases)
//
// Figures are medians over the runs. Each run's figures are kept in bench/results/.

import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  appendFileSync,
  createReadStream,
  createWriteStream,
  existsSync,
  readFileSync,
} from 'node:fs';
import {
  mkdir,
  mkdtemp,
  open,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  statfs,
  writeFile,
} from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const TANDEM = resolve(HERE, '../bin/tandem');
const MiB = 1024 * 1024;

// ---------------------------------------------------------------- arguments

const argv = process.argv.slice(2);
const flag = (name) => argv.includes(name);
const option = (name) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
if (flag('--help')) {
  // The comment at the top of this file, up to its first line that is not a comment.
  const lines = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n');
  const end = lines.findIndex((line, i) => i > 0 && !line.startsWith('//'));
  process.stdout.write(
    lines
      .slice(1, end)
      .map((l) => l.replace(/^\/\/ ?/, ''))
      .join('\n') + '\n',
  );
  process.exit(0);
}
const QUICK = flag('--quick');
const KEEP = flag('--keep');
const JSON_OUT = flag('--json');
const SMOKE = flag('--smoke'); // from npm test: quick, and fail if a workload does not complete
const LOGS = option('--logs');
const ONLY = option('--only')?.toUpperCase().split(',');
const RUNS = Number(option('--runs') ?? (QUICK ? 1 : 3));
const sizes = QUICK
  ? {
      w1: 5,
      w2Files: 300,
      w2Dirs: 10,
      w3: 48 * MiB,
      w4Insert: 24 * MiB,
      w5Files: 100,
      scaleFiles: 1_000,
      idleSeconds: 2,
      sha: 256 * MiB,
      tcp: 256 * MiB,
    }
  : {
      w1: 20,
      w2Files: 10_000,
      w2Dirs: 100,
      w3: 1024 * MiB,
      w4Insert: 500 * MiB,
      w5Files: 1_000,
      scaleFiles: 100_000,
      idleSeconds: 60,
      sha: 1024 * MiB,
      tcp: 1024 * MiB,
    };
const wanted = (name) => !ONLY || ONLY.includes(name.toUpperCase());

const log = (line) => process.stderr.write(`bench: ${line}\n`);

// ---------------------------------------------------------------- processes

const children = new Set();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

function run(args, { home, input } = {}) {
  const result = spawnSync(process.execPath, [TANDEM, ...args], {
    env: { ...process.env, ...(home ? { TANDEM_HOME: home } : {}) },
    input: input ?? '',
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`tandem ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}

function start(args, { home } = {}) {
  const child = spawn(process.execPath, [TANDEM, ...args], {
    env: { ...process.env, ...(home ? { TANDEM_HOME: home } : {}) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  if (LOGS) {
    // One file per process, named after its folder (A, B) or its role: hub.
    const name = args[0] === 'server' ? 'hub' : args[1].split('/').pop();
    const file = join(LOGS, `${name}-${child.pid}.log`);
    for (const stream of [child.stdout, child.stderr])
      stream.on('data', (d) => appendFileSync(file, d));
  }
  child.on('exit', () => children.delete(child));
  return { child, output: () => output, pid: child.pid };
}

async function stop(proc) {
  if (proc.child.exitCode !== null) return;
  const exited = new Promise((r) => proc.child.once('exit', r));
  proc.child.kill('SIGINT');
  await exited;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(probe, { timeoutMs = 600_000, intervalMs = 5, what = 'a condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let value;
    try {
      value = await probe();
    } catch {
      value = undefined;
    }
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** CPU seconds (user + system) and current RSS of a process, from /proc. */
function procStats(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
    return { cpu: ticks / 100, rss };
  } catch {
    return { cpu: 0, rss: 0 };
  }
}

/** Samples peak RSS of processes while `work` runs. */
async function withPeakRss(pids, work) {
  const peaks = Object.fromEntries(Object.keys(pids).map((k) => [k, 0]));
  const timer = setInterval(() => {
    for (const [name, pid] of Object.entries(pids))
      peaks[name] = Math.max(peaks[name], procStats(pid).rss);
  }, 20);
  try {
    const value = await work();
    return { value, peaks };
  } finally {
    clearInterval(timer);
  }
}

// ---------------------------------------------------------------- the world

async function setup(root) {
  const data = join(root, 'hub');
  // With --logs, the hub also logs every request (and how long it took).
  const hub = start([
    'server',
    '--data',
    data,
    '--port',
    '0',
    // Quiet unless the logs are kept: the hub logs a line per request at its default level.
    ...(LOGS ? ['--verbose'] : ['--log-level', 'warn']),
  ]);
  const url = await waitFor(() => /listening on (\S+)/.exec(hub.output())?.[1], {
    what: 'the hub',
  });
  const homeA = join(root, 'homeA');
  const homeB = join(root, 'homeB');
  run(['register', '--server', url, '--user', 'bench', '--password-stdin', '--device-name', 'A'], {
    home: homeA,
    input: 'benchmark password\n',
  });
  run(['login', '--server', url, '--user', 'bench', '--password-stdin', '--device-name', 'B'], {
    home: homeB,
    input: 'benchmark password\n',
  });
  run(['workspace', 'create', 'bench'], { home: homeA });
  const token = JSON.parse(readFileSync(join(homeA, 'config.json'), 'utf8')).token;
  const dirA = join(root, 'A');
  const dirB = join(root, 'B');
  const agentA = start(['sync', dirA, '--workspace', 'bench', '--quiet'], { home: homeA });
  const agentB = start(['sync', dirB, '--workspace', 'bench', '--quiet'], { home: homeB });
  await waitFor(() => agentA.output().includes('syncing') && agentB.output().includes('syncing'), {
    what: 'the agents',
  });
  await sleep(500);
  const stats = async () =>
    (await fetch(`${url}/api/v1/stats`, { headers: { authorization: `Bearer ${token}` } })).json();
  return {
    root,
    url,
    hub,
    agentA,
    agentB,
    dirA,
    dirB,
    homeA,
    homeB,
    stats,
    staging: join(root, 'staging'),
  };
}

async function sha256(path) {
  const hash = createHash('sha256');
  for await (const part of createReadStream(path, { highWaterMark: 4 * MiB })) hash.update(part);
  return hash.digest('hex');
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const percentile = (values, p) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
};

async function writeRandom(path, bytes) {
  const out = createWriteStream(path);
  for (let written = 0; written < bytes; written += 4 * MiB) {
    if (!out.write(randomBytes(Math.min(4 * MiB, bytes - written))))
      await new Promise((r) => out.once('drain', r));
  }
  await new Promise((r, j) => out.end((e) => (e ? j(e) : r())));
}

// ---------------------------------------------------------------- workloads

async function w1(world) {
  const create = [];
  const modify = [];
  for (let i = 0; i < sizes.w1; i++) {
    const bytes = randomBytes(1024);
    const name = `w1-${i}.txt`;
    const t0 = performance.now();
    await writeFile(join(world.dirA, name), bytes);
    await waitFor(async () => (await readFile(join(world.dirB, name))).equals(bytes), {
      what: 'W1 create',
    });
    create.push(performance.now() - t0);
    await sleep(50);
  }
  for (let i = 0; i < sizes.w1; i++) {
    const bytes = randomBytes(1024);
    const t0 = performance.now();
    await writeFile(join(world.dirA, 'w1-0.txt'), bytes);
    await waitFor(async () => (await readFile(join(world.dirB, 'w1-0.txt'))).equals(bytes), {
      what: 'W1 modify',
    });
    modify.push(performance.now() - t0);
    await sleep(50);
  }
  return {
    createP50Ms: percentile(create, 50),
    createP95Ms: percentile(create, 95),
    modifyP50Ms: percentile(modify, 50),
    modifyP95Ms: percentile(modify, 95),
  };
}

/** Builds a tree of small files in staging, returns its size and a function to check B. */
async function makeSmallTree(dir, files, dirs) {
  let bytes = 0;
  const expected = [];
  for (let d = 0; d < dirs; d++) await mkdir(join(dir, `dir-${d}`), { recursive: true });
  for (let i = 0; i < files; i++) {
    const size = 1024 + Math.floor(Math.random() * 15 * 1024);
    const rel = join(`dir-${i % dirs}`, `file-${i}.bin`);
    const data = randomBytes(size);
    await writeFile(join(dir, rel), data);
    expected.push({ rel, size, sha: createHash('sha256').update(data).digest('hex') });
    bytes += size;
  }
  return { bytes, expected };
}

async function countFiles(dir) {
  let n = 0;
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true, recursive: true });
  } catch {
    return 0;
  }
  for (const e of entries) if (e.isFile()) n++;
  return n;
}

async function verifyTree(dir, expected) {
  for (const { rel, sha } of expected) {
    const got = createHash('sha256')
      .update(await readFile(join(dir, rel)))
      .digest('hex');
    if (got !== sha) throw new Error(`W2: ${rel} differs on B`);
  }
}

async function w2(world, runIndex) {
  const name = `w2-run${runIndex}`;
  const stage = join(world.staging, name);
  const tree = await makeSmallTree(stage, sizes.w2Files, sizes.w2Dirs);
  const pids = { hub: world.hub.pid, agentA: world.agentA.pid, agentB: world.agentB.pid };
  const cpuBefore = Object.fromEntries(
    Object.entries(pids).map(([k, pid]) => [k, procStats(pid).cpu]),
  );
  const { value: seconds, peaks } = await withPeakRss(pids, async () => {
    const t0 = performance.now();
    await rename(stage, join(world.dirA, name)); // the whole tree appears in A at once
    // Counting 10,000 files every few ms would load the machine being measured: wait for the
    // file B writes last (they arrive in path order) cheaply, then count.
    const last = tree.expected
      .map((e) => e.rel)
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
      .at(-1);
    await waitFor(
      async () =>
        existsSync(join(world.dirB, name, last)) &&
        (await countFiles(join(world.dirB, name))) === sizes.w2Files,
      { intervalMs: 5, what: 'W2 on B' },
    );
    return (performance.now() - t0) / 1000;
  });
  await verifyTree(join(world.dirB, name), tree.expected);
  const cpu = Object.fromEntries(
    Object.entries(pids).map(([k, pid]) => [k, procStats(pid).cpu - cpuBefore[k]]),
  );
  return {
    seconds,
    megabytes: tree.bytes / 1e6,
    cpuSeconds: cpu,
    peakRssMB: mapValues(peaks, (v) => v / 1e6),
  };
}

async function w3(world, runIndex) {
  const name = `w3-run${runIndex}.bin`;
  const staged = join(world.staging, name);
  await mkdir(world.staging, { recursive: true });
  await writeRandom(staged, sizes.w3);
  const expected = await sha256(staged);
  const pids = { hub: world.hub.pid, agentA: world.agentA.pid, agentB: world.agentB.pid };
  const { value: seconds, peaks } = await withPeakRss(pids, async () => {
    const t0 = performance.now();
    await rename(staged, join(world.dirA, name));
    await waitFor(async () => (await stat(join(world.dirB, name))).size === sizes.w3, {
      intervalMs: 5,
      what: 'W3 on B',
    });
    return (performance.now() - t0) / 1000;
  });
  if ((await sha256(join(world.dirB, name))) !== expected)
    throw new Error('W3: the file differs on B');
  return {
    seconds,
    mbPerSecond: sizes.w3 / 1e6 / seconds,
    peakRssMB: mapValues(peaks, (v) => v / 1e6),
    name,
  };
}

/**
 * Waits until B holds bytes hashing to `expected`; returns when they arrived (ms, from
 * performance.now()). Polls B's inode, which changes when a version is renamed into place,
 * and hashes only a new one: hashing 1 GiB on every poll timed the benchmark itself and took
 * a core from the agents.
 */
async function arrivalOf(world, name, expected) {
  const path = join(world.dirB, name);
  let seen = await stat(path).catch(() => undefined);
  for (const deadline = performance.now() + 120_000; performance.now() < deadline;) {
    const now = await stat(path).catch(() => undefined);
    const at = performance.now();
    if (now && (!seen || now.ino !== seen.ino || now.mtimeMs !== seen.mtimeMs)) {
      seen = now;
      if ((await sha256(path)) === expected) return at;
    }
    await sleep(5);
  }
  throw new Error(`timed out waiting for ${name} on B`);
}

/** SHA-256 of a file as it will be once `patch` is written at `offset` (without writing it). */
async function sha256Patched(path, patch, offset) {
  const hash = createHash('sha256');
  let position = 0;
  for await (const part of createReadStream(path, { highWaterMark: 4 * MiB })) {
    const copy = Buffer.from(part);
    const from = Math.max(offset, position);
    const to = Math.min(offset + patch.length, position + copy.length);
    if (from < to) patch.copy(copy, from - position, from - offset, to - offset);
    hash.update(copy);
    position += copy.length;
  }
  return hash.digest('hex');
}

async function w4(world, name) {
  const target = join(world.dirA, name);
  // (a) overwrite 1 MiB in the middle, in place
  const patch = randomBytes(MiB);
  const at = Math.floor(sizes.w3 / 2);
  const expectedA = await sha256Patched(target, patch, at);
  const before = await world.stats();
  const t0 = performance.now();
  const handle = await open(target, 'r+');
  await handle.write(patch, 0, MiB, at);
  await handle.close();
  const a = {
    seconds: ((await arrivalOf(world, name, expectedA)) - t0) / 1000,
    sentMiB: ((await world.stats()).chunkBytesIn - before.chunkBytesIn) / MiB,
  };
  // (b) insert 100 bytes, shifting the rest: the new version is written aside and renamed in
  const staged = join(world.staging, `${name}.inserted`);
  await new Promise((r, j) => {
    const out = createWriteStream(staged);
    const head = createReadStream(target, { start: 0, end: sizes.w4Insert - 1 });
    head.pipe(out, { end: false });
    head.on('error', j);
    head.on('end', () => {
      out.write(randomBytes(100));
      const tail = createReadStream(target, { start: sizes.w4Insert });
      tail.pipe(out);
      tail.on('error', j);
      out.on('finish', r);
    });
  });
  const expectedB = await sha256(staged);
  const before2 = await world.stats();
  const t1 = performance.now();
  await rename(staged, target);
  const b = {
    seconds: ((await arrivalOf(world, name, expectedB)) - t1) / 1000,
    sentMiB: ((await world.stats()).chunkBytesIn - before2.chunkBytesIn) / MiB,
  };
  return { a, b };
}

async function w5(world, runIndex) {
  const name = `w5-run${runIndex}`;
  const stage = join(world.staging, name);
  await makeSmallTree(stage, sizes.w5Files, 1);
  await rename(stage, join(world.dirA, name));
  await waitFor(async () => (await countFiles(join(world.dirB, name))) === sizes.w5Files, {
    intervalMs: 20,
    what: 'W5 setup on B',
  });
  await sleep(300);
  const before = await world.stats();
  const t0 = performance.now();
  await rename(join(world.dirA, name), join(world.dirA, `${name}-renamed`));
  await waitFor(
    async () =>
      existsSync(join(world.dirB, `${name}-renamed`)) && !existsSync(join(world.dirB, name)),
    { intervalMs: 2, what: 'W5 on B' },
  );
  const seconds = (performance.now() - t0) / 1000;
  await waitFor(
    async () => (await countFiles(join(world.dirB, `${name}-renamed`))) === sizes.w5Files,
    { what: 'W5 files on B' },
  );
  const after = await world.stats();
  return {
    seconds,
    contentBytes:
      after.chunkBytesIn - before.chunkBytesIn + (after.chunkBytesOut - before.chunkBytesOut),
  };
}

async function scale(world) {
  // An agent tracking many files: its start-up scan when nothing changed, RSS at rest, idle CPU.
  // In a workspace and folders of their own, so the agent measured tracks exactly this many
  // files (in a full run, the other workloads leave some 35,000 more in A and B).
  run(['workspace', 'create', 'scale'], { home: world.homeA });
  const dirA = join(world.root, 'scaleA');
  const dirB = join(world.root, 'scaleB');
  const agentA = start(['sync', dirA, '--workspace', 'scale', '--quiet'], { home: world.homeA });
  const agentB = start(['sync', dirB, '--workspace', 'scale'], { home: world.homeB });
  let restarted;
  try {
    await waitFor(
      () => agentA.output().includes('syncing') && agentB.output().includes('syncing'),
      {
        what: 'the scale agents',
      },
    );
    const name = 'scale';
    const stage = join(world.staging, name);
    const perDir = 1000;
    for (let i = 0; i < sizes.scaleFiles; i++) {
      if (i % perDir === 0) await mkdir(join(stage, `d${i / perDir}`), { recursive: true });
      await writeFile(join(stage, `d${Math.floor(i / perDir)}`, `f${i}`), `file ${i}\n`);
    }
    const t0 = performance.now();
    await rename(stage, join(dirA, name));
    await waitFor(async () => (await countFiles(join(dirB, name))) === sizes.scaleFiles, {
      intervalMs: 200,
      what: 'scale tree on B',
    });
    const initialSync = (performance.now() - t0) / 1000;
    await stop(agentB);
    restarted = start(['sync', dirB], { home: world.homeB });
    const t1 = performance.now();
    await waitFor(() => restarted.output().includes('up to date'), {
      intervalMs: 5,
      what: 'the restarted agent',
    });
    const startupScan = (performance.now() - t1) / 1000;
    await sleep(1000);
    const cpu0 = procStats(restarted.pid).cpu;
    await sleep(sizes.idleSeconds * 1000);
    const idle = procStats(restarted.pid);
    return {
      files: sizes.scaleFiles,
      initialSyncSeconds: initialSync,
      startupScanSeconds: startupScan,
      restRssMB: idle.rss / 1e6,
      idleCpuSeconds: idle.cpu - cpu0,
      idleSeconds: sizes.idleSeconds,
    };
  } finally {
    await stop(agentA);
    await stop(restarted ?? agentB);
  }
}

// ---------------------------------------------------------------- baselines

async function baselines(root) {
  const out = {};
  const src = join(root, 'baseline-src');
  const tree = await makeSmallTree(join(src, 'w2'), sizes.w2Files, sizes.w2Dirs);
  await writeRandom(join(src, 'w3.bin'), sizes.w3);
  const timed = (cmd, args) => {
    const t0 = performance.now();
    const r = spawnSync(cmd, args, { stdio: 'ignore' });
    if (r.status !== 0) throw new Error(`${cmd} failed`);
    return (performance.now() - t0) / 1000;
  };
  out.cpW2Sync = timed('sh', [
    '-c',
    `cp -r '${join(src, 'w2')}' '${join(root, 'baseline-cp-w2')}' && sync`,
  ]);
  out.cpW3Sync = timed('sh', [
    '-c',
    `cp '${join(src, 'w3.bin')}' '${join(root, 'baseline-cp-w3.bin')}' && sync`,
  ]);
  const t0 = performance.now();
  await sha256(join(src, 'w3.bin'));
  out.sha256MBps = sizes.w3 / 1e6 / ((performance.now() - t0) / 1000);
  out.tcpMBps = await loopbackTcp(sizes.tcp);
  if (spawnSync('rsync', ['--version'], { stdio: 'ignore' }).status === 0) {
    const rsyncStats = (args) => {
      const t = performance.now();
      const r = spawnSync('rsync', ['-a', '--stats', ...args], { encoding: 'utf8' });
      const literal = Number(
        /Literal data: ([\d,]+)/.exec(r.stdout)?.[1]?.replace(/,/g, '') ?? NaN,
      );
      return { seconds: (performance.now() - t) / 1000, literalMiB: literal / MiB };
    };
    out.rsyncW2 = rsyncStats([join(src, 'w2') + '/', join(root, 'rsync-w2') + '/']);
    out.rsyncW3 = rsyncStats(['--no-whole-file', join(src, 'w3.bin'), join(root, 'rsync-w3.bin')]);
    const handle = await open(join(src, 'w3.bin'), 'r+');
    await handle.write(randomBytes(MiB), 0, MiB, Math.floor(sizes.w3 / 2));
    await handle.close();
    out.rsyncW4a = rsyncStats(['--no-whole-file', join(src, 'w3.bin'), join(root, 'rsync-w3.bin')]);
  } else {
    out.rsync = 'not installed';
  }
  void tree;
  return out;
}

async function loopbackTcp(bytes) {
  const server = createServer((socket) => socket.resume());
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  const block = randomBytes(4 * MiB);
  const t0 = performance.now();
  await new Promise((r, j) => {
    const socket = connect(port, '127.0.0.1', async () => {
      for (let sent = 0; sent < bytes; sent += block.length) {
        if (!socket.write(block)) await new Promise((d) => socket.once('drain', d));
      }
      socket.end(r);
    });
    socket.on('error', j);
  });
  server.close();
  return bytes / 1e6 / ((performance.now() - t0) / 1000);
}

// ---------------------------------------------------------------- main

function mapValues(object, fn) {
  return Object.fromEntries(Object.entries(object).map(([k, v]) => [k, fn(v, k)]));
}

/** The highest peak RSS of each process over the runs. */
function highestPeaks(runs) {
  return mapValues(runs[0].peakRssMB, (_, name) => Math.max(...runs.map((r) => r.peakRssMB[name])));
}

function medianOf(runs, pick) {
  return median(runs.map(pick));
}

/** About what the chosen workloads write to disk, kept until the end of the run. */
function diskNeeded() {
  let bytes = 256 * MiB; // databases, logs, small workloads
  // Files of ~9 KiB in 4 KiB blocks, in A, in B and in the hub's packs.
  if (wanted('W2')) bytes += RUNS * sizes.w2Files * 12 * 1024 * 3;
  // Each W3 run's file in A, in B and in the hub; W4 rewrites one of them on both sides.
  if (wanted('W3') || wanted('W4')) bytes += ((wanted('W3') ? RUNS : 1) * 3 + 2) * sizes.w3;
  if (wanted('SCALE')) bytes += sizes.scaleFiles * 4096 * 3;
  if (wanted('BASELINES')) bytes += 2.5 * sizes.w3;
  return bytes;
}

async function main() {
  if (LOGS) await mkdir(LOGS, { recursive: true });
  const parent = process.env.TANDEM_BENCH_DIR ?? tmpdir();
  await mkdir(parent, { recursive: true });
  // A disk that fills up halfway fails the run after minutes, and starves everything else.
  const { bavail, bsize } = await statfs(parent);
  const [free, needed] = [bavail * bsize, diskNeeded()];
  const gib = (bytes) => (bytes / 1024 ** 3).toFixed(1);
  if (free < needed) {
    log(
      `only ${gib(free)} GiB free in ${parent}, and this run needs about ` +
        `${gib(needed)} GiB: free some space, set TANDEM_BENCH_DIR to a roomier disk, ` +
        'or use --quick or --only',
    );
    process.exitCode = 1;
    return;
  }
  const root = await mkdtemp(join(parent, 'tandem-bench-'));
  try {
    await benchIn(root);
  } finally {
    // A full run leaves ~14 GiB of test data: repeated runs must not fill the disk.
    if (KEEP) log(`kept ${root}`);
    else await rm(root, { recursive: true, force: true });
  }
}

async function benchIn(root) {
  log(`working in ${root}${QUICK ? ' (quick)' : ''}`);
  const results = {
    when: new Date().toISOString(),
    quick: QUICK,
    runs: RUNS,
    sizes,
    workloads: {},
  };
  const world = await setup(root);
  try {
    if (wanted('W1')) {
      log('W1 latency');
      results.workloads.W1 = await w1(world);
    }
    if (wanted('W2')) {
      const runs = [];
      for (let i = 0; i < RUNS; i++) {
        log(`W2 many small files, run ${i + 1}/${RUNS}`);
        runs.push(await w2(world, i));
      }
      results.workloads.W2 = {
        seconds: medianOf(runs, (r) => r.seconds),
        megabytes: runs[0].megabytes,
        cpuSeconds: {
          hub: medianOf(runs, (r) => r.cpuSeconds.hub),
          agentA: medianOf(runs, (r) => r.cpuSeconds.agentA),
          agentB: medianOf(runs, (r) => r.cpuSeconds.agentB),
        },
        peakRssMB: highestPeaks(runs),
        samples: runs.map((r) => r.seconds),
      };
    }
    let lastW3;
    if (wanted('W3') || wanted('W4')) {
      const runs = [];
      for (let i = 0; i < (wanted('W3') ? RUNS : 1); i++) {
        log(`W3 one large file, run ${i + 1}`);
        runs.push(await w3(world, i));
      }
      lastW3 = runs[runs.length - 1].name;
      results.workloads.W3 = {
        seconds: medianOf(runs, (r) => r.seconds),
        mbPerSecond: medianOf(runs, (r) => r.mbPerSecond),
        peakRssMB: highestPeaks(runs),
        samples: runs.map((r) => r.seconds),
      };
    }
    if (wanted('W4')) {
      const runs = [];
      for (let i = 0; i < RUNS; i++) {
        log(`W4 delta, run ${i + 1}/${RUNS}`);
        runs.push(await w4(world, lastW3));
      }
      results.workloads.W4 = {
        a: {
          seconds: medianOf(runs, (r) => r.a.seconds),
          sentMiB: medianOf(runs, (r) => r.a.sentMiB),
        },
        b: {
          seconds: medianOf(runs, (r) => r.b.seconds),
          sentMiB: medianOf(runs, (r) => r.b.sentMiB),
        },
      };
    }
    if (wanted('W5')) {
      const runs = [];
      for (let i = 0; i < RUNS; i++) {
        log(`W5 folder rename, run ${i + 1}/${RUNS}`);
        runs.push(await w5(world, i));
      }
      results.workloads.W5 = {
        seconds: medianOf(runs, (r) => r.seconds),
        contentBytes: Math.max(...runs.map((r) => r.contentBytes)),
      };
    }
    if (wanted('SCALE')) {
      log(`scale: ${sizes.scaleFiles} files`);
      results.workloads.scale = await scale(world);
    }
  } finally {
    await Promise.all([stop(world.agentA), stop(world.agentB)]);
    await stop(world.hub);
  }
  if (wanted('BASELINES')) {
    log('baselines');
    results.baselines = await baselines(root);
  }
  await mkdir(join(HERE, 'results'), { recursive: true });
  const file = join(
    HERE,
    'results',
    `${results.when.replace(/[:.]/g, '-')}${QUICK ? '-quick' : ''}.json`,
  );
  await writeFile(file, JSON.stringify(results, null, 2));
  if (JSON_OUT) process.stdout.write(JSON.stringify(results, null, 2) + '\n');
  else process.stdout.write(table(results) + `\n(figures kept in ${file})\n`);
  if (SMOKE && Object.keys(results.workloads).length === 0) throw new Error('no workload ran');
}

function table(r) {
  const w = r.workloads;
  const b = r.baselines ?? {};
  const f = (n, d = 2) => (n === undefined || Number.isNaN(n) ? '-' : Number(n).toFixed(d));
  const peaks = (mb) => `hub ${f(mb.hub, 0)} MB, A ${f(mb.agentA, 0)} MB, B ${f(mb.agentB, 0)} MB`;
  const rows = [['workload', 'figure', 'target']];
  if (w.W1) {
    rows.push([
      'W1 create 1 KiB',
      `p50 ${f(w.W1.createP50Ms, 0)} ms, p95 ${f(w.W1.createP95Ms, 0)} ms`,
      'p50 <= 100, p95 <= 250',
    ]);
    rows.push([
      'W1 modify 1 KiB',
      `p50 ${f(w.W1.modifyP50Ms, 0)} ms, p95 ${f(w.W1.modifyP95Ms, 0)} ms`,
      'p50 <= 100, p95 <= 250',
    ]);
  }
  if (w.W2) {
    rows.push([
      `W2 ${r.sizes.w2Files} small files (${f(w.W2.megabytes, 1)} MB)`,
      `${f(w.W2.seconds)} s`,
      '<= 3 s',
    ]);
    rows.push([
      'W2 CPU seconds',
      `hub ${f(w.W2.cpuSeconds.hub)}, A ${f(w.W2.cpuSeconds.agentA)}, B ${f(w.W2.cpuSeconds.agentB)}`,
      '',
    ]);
    rows.push(['W2 peak RSS', peaks(w.W2.peakRssMB), '']);
  }
  if (w.W3) {
    rows.push([
      `W3 one ${f(r.sizes.w3 / MiB, 0)} MiB file`,
      `${f(w.W3.seconds)} s, ${f(w.W3.mbPerSecond, 0)} MB/s`,
      '<= 6 s, >= 170 MB/s',
    ]);
    rows.push(['W3 peak RSS', peaks(w.W3.peakRssMB), 'agent <= 150, hub <= 200']);
  }
  if (w.W4) {
    rows.push([
      'W4a overwrite 1 MiB',
      `${f(w.W4.a.seconds)} s, ${f(w.W4.a.sentMiB)} MiB sent`,
      '<= 4 s, <= 1.5 MiB',
    ]);
    rows.push([
      'W4b insert 100 B',
      `${f(w.W4.b.seconds)} s, ${f(w.W4.b.sentMiB)} MiB sent`,
      '<= 4 s, <= 0.75 MiB',
    ]);
  }
  if (w.W5)
    rows.push([
      `W5 rename folder of ${r.sizes.w5Files}`,
      `${f(w.W5.seconds * 1000, 0)} ms, ${w.W5.contentBytes} content bytes`,
      '<= 300 ms, 0 bytes',
    ]);
  if (w.scale) {
    rows.push([
      `scale ${w.scale.files} files: start-up scan`,
      `${f(w.scale.startupScanSeconds)} s (initial sync ${f(w.scale.initialSyncSeconds, 1)} s)`,
      '<= 5 s',
    ]);
    rows.push([
      'scale: at rest',
      `RSS ${f(w.scale.restRssMB, 0)} MB, CPU ${f(w.scale.idleCpuSeconds)} s in ${w.scale.idleSeconds} s idle`,
      '<= 250 MB, ~0',
    ]);
  }
  if (r.baselines) {
    rows.push(['baseline cp -r W2 + sync', `${f(b.cpW2Sync)} s`, '']);
    rows.push(['baseline cp W3 + sync', `${f(b.cpW3Sync)} s`, '']);
    rows.push(['baseline SHA-256 (Node)', `${f(b.sha256MBps, 0)} MB/s`, '']);
    rows.push(['baseline loopback TCP (Node)', `${f(b.tcpMBps, 0)} MB/s`, '']);
    if (b.rsyncW2) {
      rows.push(['baseline rsync W2', `${f(b.rsyncW2.seconds)} s`, '']);
      rows.push(['baseline rsync W3', `${f(b.rsyncW3.seconds)} s`, '']);
      rows.push([
        'baseline rsync W4a',
        `${f(b.rsyncW4a.seconds)} s, ${f(b.rsyncW4a.literalMiB)} MiB literal`,
        '',
      ]);
    } else rows.push(['baseline rsync', 'not installed', '']);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  return rows
    .map((row) =>
      row
        .map((cell, i) => cell.padEnd(widths[i]))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

main().catch((error) => {
  process.stderr.write(`bench: ${error.message}\n`);
  for (const child of children) child.kill('SIGKILL');
  process.exit(1);
});
