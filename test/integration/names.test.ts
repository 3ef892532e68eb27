/**
 * Real hub, real agents: every name is synced or reported. An NFD name (as macOS writes
 * them) syncs as NFC and back without a second copy, keeping its spelling on the device
 * that has it; two names equal under NFC become one conflicted copy; names legal on Linux
 * but not on Windows arrive; a name that is not valid UTF-8 is listed in `tandem status`
 * (non-zero exit) while everything else keeps syncing.
 */
import { readFile, readdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  background,
  startHub,
  stopAll,
  tandem,
  twoAgents,
  waitFor,
  type Background,
  type Hub,
} from '../helpers/processes.js';

const NFD = (text: string) => text.normalize('NFD');
const NFC = (text: string) => text.normalize('NFC');

interface StatusJson {
  problems: { path: string; message: string }[];
}

describe('every name is synced or reported', () => {
  let hub: Hub;
  let homeA: string;
  let dirA: string;
  let dirB: string;
  let agentA: Background;
  let agentB: Background;

  beforeAll(async () => {
    hub = await startHub();
    ({ homeA, dirA, dirB, agentA, agentB } = await twoAgents(hub, 'nina', 'names', [
      'mac',
      'linux',
    ]));
  });

  afterAll(async () => {
    const codes = await Promise.all([agentA.stop(), agentB.stop()]);
    await hub.stop();
    await stopAll();
    expect(codes, `${agentA.output()}\n${agentB.output()}`).toEqual([0, 0]);
  });

  const names = async (dir: string) => (await readdir(dir)).filter((n) => n !== '.tandem').sort();
  const status = async (dir: string, home: string) => {
    const result = await tandem(['status', dir, '--json'], { home });
    return { code: result.code, status: JSON.parse(result.stdout) as StatusJson };
  };

  it('syncs an NFD-named file to the other device and back, without a second copy', async () => {
    const decomposed = NFD('café.txt');
    await writeFile(join(dirA, decomposed), 'v1 from the mac\n');
    // It arrives in NFC, the workspace's form.
    await waitFor(async () => (await names(dirB)).includes(NFC('café.txt')), {
      what: () => `café.txt on B\n${agentA.output()}`,
      timeoutMs: 60_000,
    });
    expect(await names(dirB)).toEqual([NFC('café.txt')]);

    // Edited on B: written back to the NFD-named file on A, not to a second, NFC one.
    await writeFile(join(dirB, NFC('café.txt')), 'v2 from linux\n');
    await waitFor(
      async () => (await readFile(join(dirA, decomposed), 'utf8')) === 'v2 from linux\n',
      { what: () => `the edit on A\n${agentA.output()}`, timeoutMs: 60_000 },
    );
    expect(await names(dirA)).toEqual([decomposed]);

    // Edited on A again, under its NFD name: the same path on the hub.
    await writeFile(join(dirA, decomposed), 'v3 from the mac\n');
    await waitFor(
      async () => (await readFile(join(dirB, NFC('café.txt')), 'utf8')) === 'v3 from the mac\n',
      { what: () => `the second edit on B\n${agentB.output()}`, timeoutMs: 60_000 },
    );
    expect(await names(dirB)).toEqual([NFC('café.txt')]);
    expect(await names(dirA)).toEqual([decomposed]);
    const a = await status(dirA, homeA);
    expect(a.status.problems).toEqual([]);
    expect(a.code).toBe(0);
  });

  it('keeps both of two names equal under NFC, one as a conflicted copy', async () => {
    await writeFile(join(dirA, NFC('résumé.txt')), 'composed\n');
    await writeFile(join(dirA, NFD('résumé.txt')), 'decomposed\n');
    const copyOf = (list: string[]) => list.find((n) => n.startsWith(NFC('résumé (conflicted')));
    await waitFor(
      async () => {
        const b = await names(dirB);
        return copyOf(b) !== undefined && b.includes(NFC('résumé.txt')) && b.length === 3;
      },
      { what: () => `the copy on B\n${agentA.output()}`, timeoutMs: 60_000 },
    );
    const onA = (await names(dirA)).filter((n) => NFC(n).startsWith(NFC('résumé')));
    expect(onA).toHaveLength(2);
    expect(onA).toContain(NFC('résumé.txt'));
    const copy = copyOf(onA)!;
    expect(copy).toMatch(/ \(conflicted copy .* from mac\)\.txt$/);
    // Nothing lost: both versions are on both devices.
    const contents = async (dir: string) =>
      [
        await readFile(join(dir, NFC('résumé.txt')), 'utf8'),
        await readFile(join(dir, copy), 'utf8'),
      ].sort();
    expect(await contents(dirA)).toEqual(['composed\n', 'decomposed\n']);
    await waitFor(
      async () => JSON.stringify(await contents(dirB)) === JSON.stringify(await contents(dirA)),
      { what: () => 'the same versions on B', timeoutMs: 60_000 },
    );
  });

  it('syncs names that are legal on Linux and macOS but not on Windows', async () => {
    const portable = ['c:notes.txt', 'back\\slash.txt', 'what?*<>|".txt', 'trailing dot.'];
    for (const name of portable) await writeFile(join(dirB, name), `${name}\n`);
    await waitFor(
      async () => {
        const onA = await names(dirA);
        return portable.every((n) => onA.includes(n));
      },
      {
        what: () => `the names on A\n${agentB.output()}`,
        timeoutMs: 60_000,
      },
    );
    for (const name of portable) expect(await readFile(join(dirA, name), 'utf8')).toBe(`${name}\n`);
  });

  it('lists a name that is not valid UTF-8 in status, exits non-zero, and syncs the rest', async () => {
    const bad = Buffer.concat([
      Buffer.from(`${dirA}/bad`),
      Buffer.from([0xff]),
      Buffer.from('.txt'),
    ]);
    await writeFile(bad, 'not UTF-8\n');
    await writeFile(join(dirA, 'after.txt'), 'still syncing\n');
    await waitFor(async () => (await names(dirB)).includes('after.txt'), {
      what: () => `after.txt on B\n${agentA.output()}`,
      timeoutMs: 60_000,
    });
    const listed = await waitFor(
      async () => {
        const { code, status: s } = await status(dirA, homeA);
        const problem = s.problems.find((p) => p.path === 'bad\\xff.txt');
        return code !== 0 && problem;
      },
      { what: () => `bad\\xff.txt in status\n${agentA.output()}`, timeoutMs: 60_000 },
    );
    expect(listed.message).toMatch(/not valid UTF-8.*rename it/);
    // Never synced under a mangled name.
    expect((await names(dirB)).some((n) => n.startsWith('bad'))).toBe(false);
    // The agent said so, once.
    await waitFor(() => agentA.output().includes('not valid UTF-8'), {
      what: () => agentA.output(),
    });
    // And a plain `status` names it too.
    const human = await tandem(['status', dirA], { home: homeA });
    expect(human.code).not.toBe(0);
    expect(human.stdout).toContain('bad\\xff.txt');

    // Renamed while the agent is stopped: status no longer lists what the agent recorded of
    // the name, since the disk no longer holds it; the new name waits to upload, then goes.
    expect(await agentA.stop()).toBe(0);
    await rename(bad, join(dirA, 'renamed.txt'));
    const after = await status(dirA, homeA);
    expect(after.status.problems).toEqual([]);
    expect(after.code).not.toBe(0);
    agentA = background(['sync', dirA], { home: homeA });
    await waitFor(async () => (await names(dirB)).includes('renamed.txt'), {
      what: () => `renamed.txt on B\n${agentA.output()}`,
      timeoutMs: 60_000,
    });
    await waitFor(async () => (await status(dirA, homeA)).code === 0, {
      what: () => `status of A in sync\n${agentA.output()}`,
    });
  });
});
