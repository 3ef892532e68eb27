import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { simAccount, simDevice, startSimHub, type SimDevice, type SimHub } from '../helpers/sim.js';

describe('two simulated devices through the real hub app', () => {
  let hub: SimHub;
  let a: SimDevice;
  let b: SimDevice;
  let clock = 1_700_000_000_000;
  const now = () => (clock += 7);

  beforeEach(async () => {
    hub = await startSimHub(now);
    const clientA = await simAccount(hub, 'alice', 'laptop', true);
    const clientB = await simAccount(hub, 'alice', 'desktop', false);
    const ws = await clientA.createWorkspace('docs');
    a = await simDevice(hub, clientA, ws.id, 'laptop', now);
    b = await simDevice(hub, clientB, ws.id, 'desktop', now);
  });
  afterEach(async () => {
    await hub.close();
  });

  const sync = async (...devices: SimDevice[]) => {
    for (let i = 0; i < 3; i++) for (const d of devices) await d.engine.syncUntilIdle();
  };

  it('propagates a new file, a folder, a modification, a rename and a delete', async () => {
    await a.fs.mkdir('/laptop/notes');
    await a.fs.writeFile('/laptop/notes/todo.txt', 'buy milk');
    await a.fs.mkdir('/laptop/empty');
    await sync(a, b);
    expect((await b.fs.readFile('/desktop/notes/todo.txt')).toString()).toBe('buy milk');
    expect((await b.fs.lstat('/desktop/empty'))?.kind).toBe('dir');

    await b.fs.writeFile('/desktop/notes/todo.txt', 'buy oat milk');
    await sync(b, a);
    expect((await a.fs.readFile('/laptop/notes/todo.txt')).toString()).toBe('buy oat milk');

    await a.fs.rename('/laptop/notes', '/laptop/archive');
    await sync(a, b);
    expect(await b.fs.lstat('/desktop/notes')).toBeUndefined();
    expect((await b.fs.readFile('/desktop/archive/todo.txt')).toString()).toBe('buy oat milk');

    await b.fs.unlink('/desktop/archive/todo.txt');
    await sync(b, a);
    expect(await a.fs.lstat('/laptop/archive/todo.txt')).toBeUndefined();
    expect(await a.fs.snapshot('/laptop')).toEqual(await b.fs.snapshot('/desktop'));
  });

  it('keeps both versions when both devices edit the same file', async () => {
    await a.fs.writeFile('/laptop/plan.md', 'v0');
    await sync(a, b);
    await a.fs.writeFile('/laptop/plan.md', 'from laptop');
    await b.fs.writeFile('/desktop/plan.md', 'from desktop');
    await sync(a, b, a);
    const snapA = await a.fs.snapshot('/laptop');
    const snapB = await b.fs.snapshot('/desktop');
    snapA.delete('.tandem');
    expect([...snapA.values()].map((v) => v.data).sort()).toContain('from laptop');
    expect([...snapA.values()].map((v) => v.data).sort()).toContain('from desktop');
    const names = [...snapA.keys()].filter((k) => !k.startsWith('.tandem'));
    expect(names.some((n) => n.includes('conflicted copy'))).toBe(true);
    for (const [k, v] of snapA) if (!k.startsWith('.tandem')) expect(snapB.get(k)).toEqual(v);
  });
});
