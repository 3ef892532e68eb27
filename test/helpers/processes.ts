/**
 * Real processes for integration tests: the `tandem` CLI as a user runs it, a hub on a free
 * loopback port, agents on temporary folders. Everything started here is stopped by
 * `stopAll()` (call it in afterEach/afterAll).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const TANDEM = resolve(import.meta.dirname, '../../bin/tandem');
const running = new Set<ChildProcess>();
const temps: string[] = [];

export async function tempDir(prefix = 'tandem-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  temps.push(dir);
  return dir;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `tandem ARGS` to completion. */
export function tandem(
  args: readonly string[],
  options: { home?: string; input?: string; timeoutMs?: number; cwd?: string } = {},
): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [TANDEM, ...args], {
      env: { ...process.env, ...(options.home ? { TANDEM_HOME: options.home } : {}) },
      cwd: options.cwd ?? process.cwd(),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    running.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`tandem ${args.join(' ')} timed out\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, options.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      running.delete(child);
      resolvePromise({ code, stdout, stderr });
    });
    if (options.input !== undefined) child.stdin.end(options.input);
    else child.stdin.end();
  });
}

export interface Background {
  readonly child: ChildProcess;
  output(): string;
  /** Sends SIGINT and waits for the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL, as a crash would. */
  kill9(): Promise<void>;
  exited: Promise<number | null>;
}

/**
 * Starts `tandem ARGS` in the background (`env` adds to this process's environment; `umask`,
 * in octal as the shell's `umask` takes it, is the process's own, set by a shell that then
 * execs it).
 */
export function background(
  args: readonly string[],
  options: { home?: string; env?: Record<string, string>; umask?: string } = {},
): Background {
  const command =
    options.umask === undefined
      ? ([process.execPath, [TANDEM, ...args]] as const)
      : ([
          'sh',
          ['-c', `umask ${options.umask} && exec "$0" "$@"`, process.execPath, TANDEM, ...args],
        ] as const);
  const child = spawn(command[0], command[1], {
    env: {
      ...process.env,
      ...(options.home ? { TANDEM_HOME: options.home } : {}),
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((done) =>
    child.on('exit', (code) => {
      running.delete(child);
      done(code);
    }),
  );
  return {
    child,
    output: () => output,
    exited,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
      return exited;
    },
    kill9: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

export async function freePort(): Promise<number> {
  return new Promise((done, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => done(port));
    });
    server.on('error', reject);
  });
}

export interface Hub extends Background {
  url: string;
  dataDir: string;
}

/**
 * Starts `tandem server` and resolves once it prints its address (http or https); `args` are
 * added to the command line (`--tls`, `--host ...`).
 */
export async function startHub(
  options: { dataDir?: string; port?: number; args?: readonly string[] } = {},
): Promise<Hub> {
  const dataDir = options.dataDir ?? join(await tempDir('tandem-hub-'), 'data');
  const proc = background([
    'server',
    '--data',
    dataDir,
    '--port',
    String(options.port ?? 0),
    ...(options.args ?? []),
  ]);
  const url = await waitFor(() => /listening on (https?:\/\/\S+)/.exec(proc.output())?.[1], {
    timeoutMs: 20_000,
    what: () => `the hub to listen (output: ${proc.output()})`,
  });
  return { ...proc, url, dataDir };
}

/** Registers (or logs in) in a fresh TANDEM_HOME; returns that home. `args` are added. */
export async function account(
  hub: string,
  user: string,
  options: { register: boolean; device: string; password?: string; args?: readonly string[] },
): Promise<string> {
  const home = await tempDir('tandem-home-');
  const result = await tandem(
    [
      options.register ? 'register' : 'login',
      '--server',
      hub,
      '--user',
      user,
      '--password-stdin',
      '--device-name',
      options.device,
      ...(options.args ?? []),
    ],
    { home, input: `${options.password ?? 'hunter2 but longer'}\n` },
  );
  if (result.code !== 0) throw new Error(`account setup failed: ${result.stderr}`);
  return home;
}

/** The hub's transfer counters (`GET /api/v1/stats`), asked as the device signed in at `home`. */
export async function hubStats(
  hubUrl: string,
  home: string,
): Promise<{ chunkBytesIn: number; chunkBytesOut: number }> {
  const { token } = JSON.parse(await readFile(join(home, 'config.json'), 'utf8')) as {
    token: string;
  };
  const response = await fetch(`${hubUrl}/api/v1/stats`, {
    headers: { authorization: `Bearer ${token}` },
  });
  return (await response.json()) as { chunkBytesIn: number; chunkBytesOut: number };
}

/** Polls `probe` until it returns a value other than undefined/false. */
export async function waitFor<T>(
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  options: { timeoutMs?: number; intervalMs?: number; what?: () => string } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 20_000);
  for (;;) {
    let value: T | undefined | false;
    try {
      value = await probe();
    } catch {
      value = undefined;
    }
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${options.what?.() ?? 'a condition'}`);
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 20));
  }
}

export async function sha256File(path: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
}

/** Kills every process still running and removes temporary folders. */
export async function stopAll(): Promise<void> {
  for (const child of running) if (child.exitCode === null) child.kill('SIGKILL');
  running.clear();
  await Promise.all(
    temps.splice(0).map((dir) => rm(dir, { recursive: true, force: true }).catch(() => undefined)),
  );
}

export interface TreeItem {
  kind: 'file' | 'dir' | 'symlink';
  sha?: string;
  executable?: boolean;
  mtimeMs?: number;
  target?: string;
}

/** The tree under `root` (without `.tandem`), for comparing folders. */
export async function treeOf(root: string): Promise<Map<string, TreeItem>> {
  const { lstat, readdir, readlink } = await import('node:fs/promises');
  const out = new Map<string, TreeItem>();
  const walk = async (dir: string, prefix: string) => {
    for (const name of (await readdir(dir)).sort()) {
      if (prefix === '' && name === '.tandem') continue;
      const full = join(dir, name);
      const rel = prefix ? `${prefix}/${name}` : name;
      const stat = await lstat(full);
      if (stat.isSymbolicLink()) out.set(rel, { kind: 'symlink', target: await readlink(full) });
      else if (stat.isDirectory()) {
        out.set(rel, { kind: 'dir' });
        await walk(full, rel);
      } else
        out.set(rel, {
          kind: 'file',
          sha: await sha256File(full),
          executable: (stat.mode & 0o111) !== 0,
          mtimeMs: Math.round(stat.mtimeMs),
        });
    }
  };
  await walk(root, '');
  return out;
}

/** Waits until two folders hold the same tree (same paths, kinds, bytes, modes, mtimes, links). */
export async function waitForSameTree(
  a: string,
  b: string,
  timeoutMs = 20_000,
): Promise<Map<string, TreeItem>> {
  // A walk is not a snapshot: an agent renaming and writing during it can make two walks look
  // alike for a moment (a listing from before a rename, contents from after). So the two
  // folders must agree on two walks in a row.
  let last = '';
  let agreed = '';
  return waitFor(
    async () => {
      const [ta, tb] = await Promise.all([treeOf(a), treeOf(b)]);
      const sa = JSON.stringify([...ta]);
      const sb = JSON.stringify([...tb]);
      last = `${a}: ${sa}\n${b}: ${sb}`;
      const settled = sa === sb && sa === agreed;
      agreed = sa === sb ? sa : '';
      return settled ? ta : undefined;
    },
    { timeoutMs, what: () => `the same tree in both folders\n${last}` },
  );
}

/**
 * One user signed in on two devices (two TANDEM_HOMEs) of `hub`, with a workspace created
 * from the first: the setup most integration tests start from.
 */
export async function twoDevices(
  hub: Hub,
  user: string,
  workspace: string,
  devices: readonly [string, string] = ['a', 'b'],
): Promise<{ homeA: string; homeB: string }> {
  const homeA = await account(hub.url, user, { register: true, device: devices[0] });
  const homeB = await account(hub.url, user, { register: false, device: devices[1] });
  const created = await tandem(['workspace', 'create', workspace], { home: homeA });
  if (created.code !== 0) throw new Error(`workspace setup failed: ${created.stderr}`);
  return { homeA, homeB };
}

/**
 * `tandem status DIR --json`, parsed. (`T` is the part of the report a test looks at; the
 * document is printed on failure too, so a parse error is a failure of the CLI.)
 */
export async function statusOf<T = StatusReport>(
  dir: string,
  home: string,
): Promise<CliResult & { report: T }> {
  const result = await tandem(['status', dir, '--json'], { home });
  try {
    return { ...result, report: JSON.parse(result.stdout) as T };
  } catch {
    throw new Error(`tandem status ${dir} --json printed no JSON document\n${result.stderr}`);
  }
}

/** What most tests read of a status report. */
export interface StatusReport {
  inSync: boolean;
  problems: { path: string; message: string; since: number | null }[];
}

/** `tandem sync DIR --once` (with `extra` arguments), which must settle. */
export async function syncOnce(dir: string, home: string, extra: readonly string[] = []) {
  const result = await tandem(['sync', dir, ...extra, '--once'], { home });
  if (result.code !== 0)
    throw new Error(`tandem sync ${dir} --once exited ${result.code}\n${result.stderr}`);
  return result;
}

/**
 * Two running agents, one per device of `twoDevices`, on folders A and B of a fresh temp
 * folder linked to `workspace`; resolves once both said they are up to date.
 */
export async function twoAgents(
  hub: Hub,
  user: string,
  workspace: string,
  devices: readonly [string, string] = ['a', 'b'],
): Promise<{
  homeA: string;
  homeB: string;
  dirA: string;
  dirB: string;
  agentA: Background;
  agentB: Background;
}> {
  const { homeA, homeB } = await twoDevices(hub, user, workspace, devices);
  const root = await tempDir();
  const dirA = join(root, 'A');
  const dirB = join(root, 'B');
  const agentA = background(['sync', dirA, '--workspace', workspace], { home: homeA });
  const agentB = background(['sync', dirB, '--workspace', workspace], { home: homeB });
  await waitFor(
    () => agentA.output().includes('up to date') && agentB.output().includes('up to date'),
    {
      what: () => `both agents to start\n${agentA.output()}\n${agentB.output()}`,
      timeoutMs: 60_000,
    },
  );
  return { homeA, homeB, dirA, dirB, agentA, agentB };
}
