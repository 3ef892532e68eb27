/**
 * Deleting a workspace (issue 20) against the hub's services: a commit that passed the access
 * check just before the deletion writes nothing and answers not found (it was a 500 with no
 * workspace row to move the head of), and nothing of the workspace is left but the chunks.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { HubClient } from '../../src/agent/hub-client.js';
import type { Caller } from '../../src/server/context.js';
import { commit } from '../../src/server/services/commits.js';
import { deleteWorkspace } from '../../src/server/services/workspaces.js';
import { simAccount, startSimHub, type SimHub } from '../helpers/sim.js';

describe('a deleted workspace', () => {
  let hub: SimHub;
  let owner: HubClient;
  let caller: Caller;

  beforeEach(async () => {
    hub = await startSimHub();
    owner = await simAccount(hub, 'olga', 'o', true);
    const me = await owner.me();
    caller = {
      userId: me.user.id,
      userName: me.user.name,
      deviceId: me.device.id,
      deviceName: me.device.name,
      admin: false,
    };
  });
  afterEach(async () => {
    await hub.close();
  });

  it('refuses a commit that was let in before the deletion, and keeps no row of it', async () => {
    const id = (await owner.createWorkspace('doomed')).id;
    await owner.commit(id, { ops: [{ op: 'put', path: 'a', base: 0, entry: { kind: 'dir' } }] });
    await deleteWorkspace(hub.app.hub, id);
    await expect(
      commit(hub.app.hub, caller, id, {
        ops: [{ op: 'put', path: 'late', base: 0, entry: { kind: 'dir' } }],
      }),
    ).rejects.toMatchObject({ code: 'WORKSPACE_NOT_FOUND' });
    const db = hub.app.hub.db;
    for (const table of ['members', 'entries', 'journal', 'workspace_chunks'] as const)
      expect(
        await db.selectFrom(table).select('workspace_id').where('workspace_id', '=', id).execute(),
        table,
      ).toEqual([]);
    expect(await db.selectFrom('workspaces').select('id').where('id', '=', id).execute()).toEqual(
      [],
    );
    // Its name is free again for its creator.
    expect((await owner.createWorkspace('doomed')).name).toBe('doomed');
  });
});
