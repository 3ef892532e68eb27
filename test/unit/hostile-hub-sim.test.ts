/**
 * An agent facing a hostile or broken hub, in process: the real hub app, and a transport that
 * rewrites its feed and its manifests on the way to device B. B must never write outside its
 * folder or into its `.tandem`, never record a file it did not write as the hub described
 * it, tell each problem once, try a failing change again only on its backoff, and lose
 * nothing of its own.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HubClient } from '../../src/agent/hub-client.js';
import { FIRST_RETRY_MS } from '../../src/agent/problems.js';
import type { ChangesResponse, ManifestsResponse } from '../../src/protocol/api.js';
import { recordWrites, TamperingTransport } from '../helpers/hostile.js';
import { simAccount, simDevice, startSimHub, type SimDevice, type SimHub } from '../helpers/sim.js';

describe('an agent facing a hostile hub', () => {
  let clock = 1_700_000_000_000;
  const now = () => clock;
  const later = (ms: number) => (clock += ms);
  let hub: SimHub;
  let a: SimDevice;
  let b: SimDevice;
  let transport: TamperingTransport;
  const written: string[] = [];

  beforeEach(async () => {
    hub = await startSimHub(now);
    const anonymous = new HubClient(hub.transport);
    const credentials = { user: 'mallory-victim', password: 'correct horse' };
    const authA = await anonymous.register({ ...credentials, deviceName: 'a' });
    const authB = await anonymous.login({ ...credentials, deviceName: 'b' });
    const clientA = new HubClient(hub.transport, authA.token);
    transport = new TamperingTransport(hub.transport);
    const clientB = new HubClient(transport, authB.token);
    const ws = await clientA.createWorkspace('docs');
    a = await simDevice(hub, clientA, ws.id, 'a', now);
    b = await simDevice(hub, clientB, ws.id, 'b', now);
    written.length = 0;
    recordWrites(b.fs, written);
  });
  afterEach(async () => {
    await hub.close();
  });

  /** Writes files on A and sends them. */
  const onA = async (files: Record<string, string>) => {
    for (const [path, text] of Object.entries(files)) await a.fs.writeFile(`/a/${path}`, text);
    later(10_000); // (just written: still being written)
    await a.engine.syncUntilIdle();
  };
  /** Rewrites the feed rows (and snapshot records) B receives, by their path. */
  const rewriteRows = (rewrite: (row: Record<string, unknown>) => Record<string, unknown>) => {
    const previous = transport.tamper;
    transport.tamper = (path, body) => {
      body = previous(path, body);
      if (!path.includes('/changes?')) return body;
      const page = body as ChangesResponse;
      const map = (list: readonly unknown[] | undefined) =>
        list?.map((r) => rewrite(r as Record<string, unknown>));
      return { ...page, rows: map(page.rows), snapshot: map(page.snapshot) };
    };
  };
  const wroteOnlyInside = () => {
    for (const path of written) {
      expect(path.startsWith('/b/'), path).toBe(true);
      if (path.startsWith('/b/.tandem')) expect(path.startsWith('/b/.tandem/tmp'), path).toBe(true);
    }
  };

  for (const via of ['rows', 'snapshot'] as const)
    it(`refuses paths out of the folder or into .tandem, and a file inside a link, and syncs the rest (${via})`, async () => {
      if (via === 'rows') await onA({ 'first.txt': 'so that B has a cursor' });
      await b.engine.round();
      await onA({
        'h1.txt': 'one',
        'h2.txt': 'two',
        'h3.txt': 'three',
        'h4.txt': 'four',
        'h5.txt': 'five',
        'h6.txt': 'six',
        'honest.txt': 'honest',
      });
      const hostile: Record<string, Record<string, unknown>> = {
        'h1.txt': { path: '../escape.txt' },
        'h2.txt': { path: '/b-outside/evil.txt' },
        'h3.txt': { path: '.tandem/state.db' },
        'h4.txt': { path: 'docs/.tandem/x' },
        'h5.txt': { path: 'link', entry: { kind: 'symlink', target: '/b-outside' } },
        'h6.txt': { path: 'link/evil.txt' },
      };
      rewriteRows((row) => ({ ...row, ...hostile[row.path as string] }));
      const first = await b.engine.round();
      wroteOnlyInside();
      expect((await b.fs.readFile('/b/honest.txt')).toString()).toBe('honest');
      expect(await b.fs.readlink('/b/link')).toBe('/b-outside'); // (a link is data)
      // (B's disk holds its folder and nothing else: nothing landed beside it.)
      expect([...(await b.fs.snapshot('/')).keys()].filter((p) => !p.startsWith('b/'))).toEqual([
        'b',
      ]);
      const expected = [
        '../escape.txt',
        '/b-outside/evil.txt',
        '.tandem/state.db',
        'docs/.tandem/x',
        'link/evil.txt',
      ];
      expect([...b.store.problems.keys()].sort()).toEqual([...expected].sort());
      expect(first.reported.map((p) => p.path).sort()).toEqual([...expected].sort());
      expect(b.store.problems.get('link/evil.txt')?.message).toMatch(
        via === 'rows'
          ? /invalid change \(the change at seq \d+\): link above it is a link on the hub/
          : /invalid change \(a snapshot record\): link above it is a link on the hub/,
      );
      for (const path of expected) expect(b.store.remote.has(path)).toBe(false);
      // Told once: the next rounds report nothing new and plan nothing.
      const second = await b.engine.round();
      expect(second.reported).toEqual([]);
      expect(second.planned).toBe(0);
      expect(second.problems).toBe(expected.length);
    });

  it('keeps a local file whose path the hub sends an invalid entry for, and sends nothing for it', async () => {
    await onA({ 'plan.md': 'v1', 'other.md': 'other' });
    await b.engine.syncUntilIdle();
    expect((await b.fs.readFile('/b/plan.md')).toString()).toBe('v1');
    const seen = a.store.cursor;
    rewriteRows((row) =>
      row.path === 'plan.md' && (row.seq as number) > seen
        ? { ...row, entry: { ...(row.entry as object), mtime: 1e18 } }
        : row,
    );
    await onA({ 'plan.md': 'v2 from a' });
    const head = a.store.cursor;
    // B edits the same file meanwhile: held, it is neither overwritten nor sent.
    await b.fs.writeFile('/b/plan.md', 'v2 from b');
    later(10_000);
    const round = await b.engine.round();
    expect(round.reported).toEqual([
      { path: 'plan.md', message: expect.stringMatching(/from 1970 to 2200/) },
    ]);
    expect(b.store.problems.get('plan.md')).toMatchObject({ kind: 'feed' });
    await b.engine.syncUntilIdle();
    expect((await b.fs.readFile('/b/plan.md')).toString()).toBe('v2 from b');
    await a.engine.syncUntilIdle();
    expect(a.store.cursor).toBe(head); // nothing reached the hub from B
    expect((await a.fs.readFile('/a/plan.md')).toString()).toBe('v2 from a');

    // A valid change for it arrives: both versions are kept (B's as a conflicted copy).
    transport.tamper = (_path, body) => body;
    await onA({ 'plan.md': 'v3 from a' });
    await b.engine.syncUntilIdle();
    await a.engine.syncUntilIdle();
    const texts = [...(await a.fs.snapshot('/a')).values()].map((v) => v.data);
    expect(texts).toContain('v3 from a');
    expect(texts).toContain('v2 from b');
    expect(b.store.problems.size).toBe(0);
  });

  for (const batched of [true, false])
    it(`writes nothing of a file whose manifest gives a chunk the wrong size (${batched ? 'batched' : 'alone'})`, async () => {
      await b.engine.round();
      await onA(
        batched ? { 'five.txt': 'hello', 'x.txt': 'x', 'y.txt': 'y' } : { 'five.txt': 'hello' },
      );
      const contentId = (a.store.base.get('five.txt')!.entry as { contentId: string }).contentId;
      // The hub keeps whichever manifest of a content arrived first: one that claims 10 bytes
      // for the 5-byte chunk "hello" (the content id does not cover sizes), and the entry too.
      rewriteRows((row) =>
        (row.entry as { contentId?: string } | undefined)?.contentId === contentId
          ? { ...row, entry: { ...(row.entry as object), size: 10 } }
          : row,
      );
      const previous = transport.tamper;
      transport.tamper = (path, body) => {
        body = previous(path, body);
        if (!path.endsWith('/contents/fetch')) return body;
        const { manifests } = body as ManifestsResponse;
        return {
          manifests: manifests.map((m) =>
            m.contentId === contentId
              ? { ...m, size: 10, chunks: m.chunks.map((c) => ({ ...c, size: 10 })) }
              : m,
          ),
        };
      };
      const first = await b.engine.round();
      wroteOnlyInside();
      expect(await b.fs.lstat('/b/five.txt')).toBeUndefined();
      expect(b.store.base.has('five.txt')).toBe(false);
      expect(b.store.hashes.has('five.txt')).toBe(false);
      expect(await b.fs.readdir('/b/.tandem/tmp')).toEqual([]);
      expect(first.reported).toEqual([
        {
          path: 'five.txt',
          message: expect.stringMatching(/manifest gives chunk \w+ 10 bytes, but it has 5/),
        },
      ]);
      if (batched) expect((await b.fs.readFile('/b/x.txt')).toString()).toBe('x');

      // Not tried again before its retry is due, then tried quietly.
      const fetches = () => transport.requests.filter((r) => r.includes('/contents/fetch')).length;
      const before = fetches();
      const held = await b.engine.round();
      expect(held.planned).toBe(0);
      expect(held.problemsDueInMs).toBe(FIRST_RETRY_MS);
      expect(fetches()).toBe(before);
      later(FIRST_RETRY_MS);
      const retried = await b.engine.round();
      expect(fetches()).toBe(before + 1);
      expect(retried.reported).toEqual([]);
      expect(retried.problemsDueInMs).toBe(undefined);
      expect((await b.engine.round()).problemsDueInMs).toBe(2 * FIRST_RETRY_MS);

      // An honest edit on A arrives whole, and the problem is gone.
      await onA({ 'five.txt': 'hello, honestly' });
      await b.engine.syncUntilIdle();
      expect((await b.fs.readFile('/b/five.txt')).toString()).toBe('hello, honestly');
      expect(b.store.problems.size).toBe(0);
    });

  it('refuses a manifest whose content id is not the hash of its chunks', async () => {
    await b.engine.round();
    await onA({ 'doc.txt': 'the real bytes' });
    transport.tamper = (path, body) => {
      if (!path.endsWith('/contents/fetch')) return body;
      const { manifests } = body as ManifestsResponse;
      return {
        manifests: manifests.map((m) => ({
          ...m,
          chunks: [{ id: 'ee'.repeat(32), size: m.size }],
        })),
      };
    };
    const round = await b.engine.round();
    expect(round.reported[0]?.message).toMatch(
      /manifest of doc.txt does not verify \(its content id is not the hash of its chunk ids\)/,
    );
    expect(await b.fs.lstat('/b/doc.txt')).toBeUndefined();
  });

  it('fails a feed that goes back, applying nothing of it', async () => {
    await onA({ 'zero.txt': '0' });
    await b.engine.round();
    await onA({ 'one.txt': '1', 'two.txt': '2' });
    transport.tamper = (path, body) => {
      if (!path.includes('/changes?')) return body;
      const page = body as ChangesResponse;
      return { ...page, rows: page.rows && [...page.rows].reverse() };
    };
    const cursor = b.store.cursor;
    await expect(b.engine.round()).rejects.toThrow(/cannot be applied.*go back/);
    expect(b.store.cursor).toBe(cursor);
    expect(b.store.remote.has('one.txt')).toBe(false);
  });

  it('passes over an upload preview out of the folder', async () => {
    const lines: string[] = [];
    const engine = b.engine as unknown as { log: (line: string) => void };
    engine.log = (line) => lines.push(line);
    const preview = {
      upload: 'ab'.repeat(8),
      path: '../big.bin',
      size: 10,
      at: 0,
      chunks: [{ id: 'cd'.repeat(32), size: 10 }],
    };
    await b.engine.preview(preview);
    await b.engine.preview({ ...preview, at: 0 });
    await b.engine.preview({ ...preview, upload: 'ef'.repeat(8), path: 'big.bin', size: 5 });
    expect(lines).toEqual([
      expect.stringMatching(/^\.\.\/big\.bin: the hub sent an invalid upload preview \(a path/),
      expect.stringMatching(/^big\.bin: .*chunks end at byte 10, past its size 5/),
    ]);
    expect(transport.requests.filter((r) => r.includes('/chunks/fetch'))).toEqual([]);
  });
});

describe('a change the disk refuses', () => {
  let clock = 1_700_000_000_000;
  const now = () => clock;
  const later = (ms: number) => (clock += ms);
  let hub: SimHub;
  let a: SimDevice;
  let b: SimDevice;

  beforeEach(async () => {
    hub = await startSimHub(now);
    const clientA = await simAccount(hub, 'pat', 'a', true);
    const clientB = await simAccount(hub, 'pat', 'b', false);
    const ws = await clientA.createWorkspace('docs');
    a = await simDevice(hub, clientA, ws.id, 'a', now);
    b = await simDevice(hub, clientB, ws.id, 'b', now);
  });
  afterEach(async () => {
    await hub.close();
  });

  it('is told once and tried again on a backoff (2 s, 4 s, ...), at once when it changes', async () => {
    await a.fs.writeFile('/a/old.txt', 'from the past');
    later(10_000);
    await a.engine.syncUntilIdle();
    // This disk refuses the time (as futimes refuses one it cannot store).
    let refuse = true;
    let attempts = 0;
    const createWrite = b.fs.createWrite.bind(b.fs);
    b.fs.createWrite = async (path, mode) => {
      const handle = await createWrite(path, mode);
      return {
        ...handle,
        setMeta: async (m, mtime) => {
          attempts++;
          if (refuse)
            throw Object.assign(new Error(`EINVAL: invalid argument, futime`), { code: 'EINVAL' });
          return handle.setMeta(m, mtime);
        },
      };
    };
    const first = await b.engine.round();
    expect(first.reported).toEqual([
      // (The cause in words, once: not "EINVAL EINVAL: invalid argument, futime".)
      { path: 'old.txt', message: 'invalid argument (futime)' },
    ]);
    expect(b.store.problems.get('old.txt')).toMatchObject({ kind: 'apply', since: clock });
    expect(await b.fs.readdir('/b/.tandem/tmp')).toEqual([]);

    const rounds = async (n: number) => {
      const reported = [];
      for (let i = 0; i < n; i++) reported.push(...(await b.engine.round()).reported);
      return reported;
    };
    expect(await rounds(20)).toEqual([]);
    expect(attempts).toBe(1);
    later(FIRST_RETRY_MS - 1);
    await rounds(5);
    expect(attempts).toBe(1);
    later(1);
    expect(await rounds(5)).toEqual([]);
    expect(attempts).toBe(2);
    later(2 * FIRST_RETRY_MS - 1);
    await rounds(5);
    expect(attempts).toBe(2);
    later(1);
    await rounds(5);
    expect(attempts).toBe(3);

    // A new version on the hub is a new change: tried at once.
    await a.fs.writeFile('/a/old.txt', 'newer');
    later(10_000);
    await a.engine.syncUntilIdle();
    later(1);
    await rounds(1);
    expect(attempts).toBe(4);

    refuse = false;
    later(60 * 60_000);
    await rounds(2);
    expect((await b.fs.readFile('/b/old.txt')).toString()).toBe('newer');
    expect(b.store.problems.size).toBe(0);
  });
});
