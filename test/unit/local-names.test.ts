/**
 * How names on disk map to workspace paths: the pure rules (NFC, kept spellings, case
 * collisions, undecodable bytes), then two simulated devices through the real hub app.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  caseCollisions,
  isCaseHeld,
  keptSpelling,
  showUndecodable,
  Spellings,
  wireName,
} from '../../src/core/local-names.js';
import { simAccount, simDevice, startSimHub, type SimDevice, type SimHub } from '../helpers/sim.js';

const NFD = 'cafe\u0301';
const NFC = 'caf\u00e9';

describe('local names', () => {
  it('takes a name under its NFC form', () => {
    expect(wireName(`${NFD}.txt`)).toBe(`${NFC}.txt`);
    expect(wireName('plain.txt')).toBe('plain.txt');
    expect(wireName('\u212a.txt')).toBe('K.txt'); // the Kelvin sign is a K in NFC
  });

  it('keeps the spelling that is the path, else the one kept before, else the first', () => {
    expect(keptSpelling(NFC, [NFD, NFC], undefined)).toBe(NFC);
    const other = 'cafe\u0301'.normalize('NFKD');
    expect(keptSpelling(NFC, [NFD, other], other)).toBe(other);
    expect(keptSpelling('x\u00e9', ['xe\u0301', 'x\u00e9'.normalize('NFD')], undefined)).toBe(
      'xe\u0301',
    );
  });

  it('maps workspace paths to their disk spelling, through folders and moves', () => {
    const spellings = new Spellings();
    expect(spellings.toDisk(`${NFC}/x.txt`)).toBe(`${NFC}/x.txt`);
    spellings.set(NFC, NFD);
    spellings.set(`${NFC}/${NFC}.txt`, `${NFD}.txt`);
    spellings.set(`${NFC}/plain.txt`, 'plain.txt'); // spelled as the path: nothing to keep
    expect(spellings.size).toBe(2);
    expect(spellings.toDisk(`${NFC}/${NFC}.txt`)).toBe(`${NFD}/${NFD}.txt`);
    expect(spellings.toDisk(`${NFC}/new.txt`)).toBe(`${NFD}/new.txt`);
    expect(spellings.toDisk('other/x')).toBe('other/x');
    // Renamed by the hub: the folder is written as the hub names it, what it holds keeps its own.
    spellings.move(NFC, 'renamed');
    expect(spellings.toDisk(`renamed/${NFC}.txt`)).toBe(`renamed/${NFD}.txt`);
    expect(spellings.toDisk(`${NFC}/${NFC}.txt`)).toBe(`${NFC}/${NFC}.txt`);
    spellings.cut('renamed');
    expect(spellings.size).toBe(0);
  });

  it('finds hub paths a case-insensitive disk cannot hold, keeping a stable one', () => {
    const remote = ['Docs', 'Docs/a.txt', 'docs', 'docs/b.txt', 'a.txt', 'A.txt', 'b.txt'];
    const none = () => false;
    const losers = caseCollisions(remote, none, none);
    // The first in byte order, when none is here yet; what is inside a loser goes with it.
    expect([...losers]).toEqual([
      ['docs', 'Docs'],
      ['a.txt', 'A.txt'],
    ]);
    expect(isCaseHeld(losers, 'docs/b.txt')).toBe(true);
    expect(isCaseHeld(losers, 'Docs/a.txt')).toBe(false);
    // The one this device synced already keeps its place, then the one on its disk.
    expect([...caseCollisions(remote, (p) => p === 'a.txt' || p === 'docs', none)]).toEqual([
      ['Docs', 'docs'],
      ['A.txt', 'a.txt'],
    ]);
    expect([...caseCollisions(['a.txt', 'A.txt'], none, (p) => p === 'a.txt')]).toEqual([
      ['A.txt', 'a.txt'],
    ]);
  });

  it('shows the bytes of a name that is not UTF-8', () => {
    expect(showUndecodable(Buffer.from([0x62, 0x61, 0x64, 0xff, 0x2e, 0x74]))).toBe('bad\\xff.t');
    expect(showUndecodable(Buffer.from('é\u00ff', 'utf8'))).toBe('é\u00ff');
    // A truncated sequence, and an encoded surrogate (not UTF-8 either).
    expect(showUndecodable(Buffer.from([0x41, 0xc3]))).toBe('A\\xc3');
    expect(showUndecodable(Buffer.from([0xed, 0xa0, 0x80]))).toBe('\\xed\\xa0\\x80');
  });
});

describe('names through two simulated devices', () => {
  let hub: SimHub;
  let a: SimDevice;
  let b: SimDevice;
  let clock = 1_700_000_000_000;
  const now = () => (clock += 7);

  const setup = async (bCaseInsensitive = false) => {
    hub = await startSimHub(now);
    const clientA = await simAccount(hub, 'alice', 'laptop', true);
    const clientB = await simAccount(hub, 'alice', 'mac', false);
    const ws = await clientA.createWorkspace('docs');
    a = await simDevice(hub, clientA, ws.id, 'laptop', now);
    b = await simDevice(hub, clientB, ws.id, 'mac', now, 0, { caseInsensitive: bCaseInsensitive });
  };
  beforeEach(() => {
    clock += 60_000;
  });
  afterEach(async () => {
    await hub.close();
  });
  const sync = async (...devices: SimDevice[]) => {
    for (let i = 0; i < 3; i++) for (const d of devices) await d.engine.syncUntilIdle();
  };
  const names = async (d: SimDevice, dir = '') =>
    (await d.fs.readdir(`${d.root}${dir}`)).filter((n) => n !== '.tandem').sort();

  it('syncs an NFD name as NFC, and writes updates to the NFD name where it is', async () => {
    await setup();
    await b.fs.mkdir(`/mac/${NFD}`);
    await b.fs.writeFile(`/mac/${NFD}/r${'e\u0301'}sum${'e\u0301'}.txt`, 'v1');
    await sync(b, a);
    expect(await names(a)).toEqual([NFC]);
    expect(await names(a, `/${NFC}`)).toEqual(['r\u00e9sum\u00e9.txt']);
    const onHub = await b.engine.store.remote;
    expect([...onHub.keys()].sort()).toEqual([NFC, `${NFC}/r\u00e9sum\u00e9.txt`]);

    // Edited on the other device: written back to the NFD-named file, no second one.
    await a.fs.writeFile(`/laptop/${NFC}/r\u00e9sum\u00e9.txt`, 'v2');
    await sync(a, b, a);
    expect(await names(b)).toEqual([NFD]);
    expect(await names(b, `/${NFD}`)).toEqual([`r${'e\u0301'}sum${'e\u0301'}.txt`]);
    expect((await b.fs.readFile(`/mac/${NFD}/r${'e\u0301'}sum${'e\u0301'}.txt`)).toString()).toBe(
      'v2',
    );
    // And the NFD device's next edit goes up as the same path.
    await b.fs.writeFile(`/mac/${NFD}/r${'e\u0301'}sum${'e\u0301'}.txt`, 'v3');
    await sync(b, a);
    expect((await a.fs.readFile(`/laptop/${NFC}/r\u00e9sum\u00e9.txt`)).toString()).toBe('v3');
    expect(await names(a, `/${NFC}`)).toEqual(['r\u00e9sum\u00e9.txt']);
    expect(b.store.problems.size + a.store.problems.size).toBe(0);

    // Renamed by the hub: the NFD folder is renamed, its file keeps its spelling.
    await a.fs.rename(`/laptop/${NFC}`, '/laptop/moved');
    await sync(a, b);
    expect(await names(b)).toEqual(['moved']);
    expect(await names(b, '/moved')).toEqual([`r${'e\u0301'}sum${'e\u0301'}.txt`]);
  });

  it('moves one of two names equal under NFC aside as one conflicted copy', async () => {
    await setup();
    await a.fs.writeFile(`/laptop/${NFC}.txt`, 'composed');
    await a.fs.writeFile(`/laptop/${NFD}.txt`, 'decomposed');
    await sync(a, b);
    const local = await names(a);
    expect(local).toHaveLength(2);
    expect(local).toContain(`${NFC}.txt`);
    const copy = local.find((n) => n.includes('conflicted copy'))!;
    expect(copy).toMatch(/^café \(conflicted copy .* from laptop\)\.txt$/);
    expect(copy).toBe(copy.normalize('NFC'));
    expect((await a.fs.readFile(`/laptop/${NFC}.txt`)).toString()).toBe('composed');
    expect((await a.fs.readFile(`/laptop/${copy}`)).toString()).toBe('decomposed');
    expect(await names(b)).toEqual(local);
    expect((await b.fs.readFile(`/mac/${copy}`)).toString()).toBe('decomposed');
  });

  it('lists a name that is not UTF-8 as a problem, and syncs the rest', async () => {
    await setup();
    // (\udcff: the memory disk's way of writing the byte 0xff in a name.)
    await a.fs.writeFile('/laptop/bad\udcff.txt', 'bad');
    await a.fs.writeFile('/laptop/good.txt', 'good');
    await sync(a, b);
    expect(await names(b)).toEqual(['good.txt']);
    expect([...a.store.problems]).toEqual([
      [
        'bad\\xff.txt',
        expect.objectContaining({
          kind: 'scan',
          message: expect.stringMatching(/not valid UTF-8.*rename it/),
        }),
      ],
    ]);
    const round = await a.engine.round();
    expect(round.problems).toBe(1);
    // Renamed: it syncs, and the problem is gone.
    await a.fs.rename('/laptop/bad\udcff.txt', '/laptop/fixed.txt');
    await sync(a, b);
    expect(await names(b)).toEqual(['fixed.txt', 'good.txt']);
    expect(a.store.problems.size).toBe(0);
  });

  it('syncs names with a backslash and a colon', async () => {
    await setup();
    await a.fs.writeFile('/laptop/back\\slash.txt', 'b');
    await a.fs.writeFile('/laptop/c:notes.txt', 'c');
    await sync(a, b);
    expect(await names(b)).toEqual(['back\\slash.txt', 'c:notes.txt']);
  });

  it('keeps one of two hub paths that differ only in case on a case-insensitive disk', async () => {
    await setup(true);
    await a.fs.writeFile('/laptop/Notes.txt', 'upper');
    await a.fs.writeFile('/laptop/notes.txt', 'lower');
    await a.fs.mkdir('/laptop/Docs');
    await a.fs.writeFile('/laptop/Docs/x.txt', 'x');
    await a.fs.mkdir('/laptop/docs');
    await a.fs.writeFile('/laptop/docs/y.txt', 'y');
    await sync(a, b);
    expect(await names(b)).toEqual(['Docs', 'Notes.txt']);
    expect((await b.fs.readFile('/mac/Notes.txt')).toString()).toBe('upper');
    expect(await names(b, '/Docs')).toEqual(['x.txt']);
    expect([...b.store.problems.keys()].sort()).toEqual(['docs', 'notes.txt']);
    expect(b.store.problems.get('notes.txt')?.message).toMatch(/differs from it only in case/);
    // Nothing flaps: the next rounds plan nothing, and the hub keeps all four.
    for (let i = 0; i < 3; i++) expect((await b.engine.round()).planned).toBe(0);
    expect([...a.store.remote.keys()].sort()).toEqual([
      'Docs',
      'Docs/x.txt',
      'Notes.txt',
      'docs',
      'docs/y.txt',
      'notes.txt',
    ]);
    // Edits on the case-insensitive device go to the path it kept.
    await b.fs.writeFile('/mac/NOTES.TXT', 'upper, edited');
    await sync(b, a);
    expect((await a.fs.readFile('/laptop/Notes.txt')).toString()).toBe('upper, edited');
    expect((await a.fs.readFile('/laptop/notes.txt')).toString()).toBe('lower');
    // One renamed on the other device: both are on the case-insensitive disk, no problem left.
    await a.fs.rename('/laptop/notes.txt', '/laptop/notes 2.txt');
    await a.fs.rename('/laptop/docs', '/laptop/docs 2');
    await sync(a, b, a);
    expect(await names(b)).toEqual(['Docs', 'Notes.txt', 'docs 2', 'notes 2.txt']);
    expect(b.store.problems.size).toBe(0);
  });

  it('renames a file when the hub changes only the case of its name, on a case-insensitive disk', async () => {
    await setup(true);
    await a.fs.writeFile('/laptop/readme.md', 'r');
    await sync(a, b);
    const ino = (await b.fs.lstat('/mac/readme.md'))!.ino;
    await a.fs.rename('/laptop/readme.md', '/laptop/README.md');
    // (Settled before the agent looks: a rename moves the file's ctime, and a file changed
    // within QUIET_MS waits a round, while these devices send deletions without holding them.)
    clock += 100;
    await sync(a, b);
    expect(await names(b)).toEqual(['README.md']);
    // Renamed in place (one rename), not deleted and downloaded again.
    expect((await b.fs.lstat('/mac/README.md'))!.ino).toBe(ino);
    expect(b.store.problems.size).toBe(0);
    // And back, from the case-insensitive side.
    await b.fs.rename('/mac/README.md', '/mac/Readme.md');
    clock += 100;
    await sync(b, a);
    expect(await names(a)).toEqual(['Readme.md']);
  });
});
