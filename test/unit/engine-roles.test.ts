/**
 * The engine follows the role the hub says (issue 20): a viewer's local edits are kept back,
 * and sent by the next round once it is told it is an editor, with no new engine; told it is
 * a viewer, it stops sending before the hub has to refuse anything.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { HubClient } from '../../src/agent/hub-client.js';
import { simAccount, simDevice, startSimHub, type SimDevice, type SimHub } from '../helpers/sim.js';

describe('a role change reaches a running engine', () => {
  let hub: SimHub;
  let owner: HubClient;
  let o: SimDevice;
  let v: SimDevice;
  let workspace: string;
  let clock = 1_700_000_000_000;
  const now = () => (clock += 7);
  const lines: string[] = [];

  beforeEach(async () => {
    hub = await startSimHub(now);
    owner = await simAccount(hub, 'olga', 'o', true);
    const viewer = await simAccount(hub, 'vera', 'v', true);
    workspace = (await owner.createWorkspace('shared')).id;
    await owner.setMember(workspace, 'vera', 'viewer');
    o = await simDevice(hub, owner, workspace, 'o', now);
    v = await simDevice(hub, viewer, workspace, 'v', now, 0, {}, (line) => lines.push(line));
  });
  afterEach(async () => {
    lines.length = 0;
    await hub.close();
  });

  const onHub = async () => (await owner.changes(workspace, 0)).snapshot!.map((r) => r.path);

  it('a viewer made an editor sends what it kept back on its next round', async () => {
    await o.fs.writeFile('/o/from-owner.txt', 'hello');
    await o.engine.syncUntilIdle();
    await v.fs.writeFile('/v/kept.txt', 'written as a viewer');
    const asViewer = await v.engine.syncUntilIdle();
    expect((await v.fs.readFile('/v/from-owner.txt')).toString()).toBe('hello');
    expect(asViewer.unsent).toBe(1);
    expect(await onHub()).toEqual(['from-owner.txt']);

    await owner.setMember(workspace, 'vera', 'editor');
    v.engine.setRole('editor');
    const asEditor = await v.engine.syncUntilIdle();
    expect(asEditor.unsent).toBe(0);
    expect((await onHub()).sort()).toEqual(['from-owner.txt', 'kept.txt']);
    expect(lines.join('\n')).toMatch(/you may now edit this workspace \(editor\)/);
  });

  it('an editor told it is a viewer keeps its edits without a refused round', async () => {
    await owner.setMember(workspace, 'vera', 'editor');
    await v.fs.writeFile('/v/first.txt', 'sent');
    await v.engine.syncUntilIdle();
    expect(await onHub()).toEqual(['first.txt']);
    await owner.setMember(workspace, 'vera', 'viewer');
    v.engine.setRole('viewer');
    await v.fs.writeFile('/v/second.txt', 'kept');
    const result = await v.engine.syncUntilIdle();
    expect(result.unsent).toBe(1);
    expect(await onHub()).toEqual(['first.txt']);
    expect(lines.filter((l) => /you may only view/.test(l))).toHaveLength(1);
  });
});
