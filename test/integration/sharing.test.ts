/**
 * Sharing and roles (issue 20), with a real hub, real agents and the CLI as people run it:
 * the last owner stays; a viewer syncs down only, and becomes an editor without a restart;
 * unsharing, renaming and deleting reach running agents at once.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  account,
  background,
  startHub,
  stopAll,
  syncOnce,
  tandem,
  tempDir,
  waitFor,
  type Hub,
} from '../helpers/processes.js';

const contents = (path: string) => readFile(path, 'utf8').catch(() => undefined);

interface Listed {
  workspaces: {
    name: string;
    role: string;
    owner: string;
    owners: string[];
    size: number;
    changed: number | null;
  }[];
}

describe('sharing and roles', () => {
  let hub: Hub;
  beforeAll(async () => {
    hub = await startHub();
  });
  afterAll(stopAll);

  it('keeps the last owner: it cannot leave, be demoted or removed, until a second owner is added', async () => {
    const ann = await account(hub.url, 'ann', { register: true, device: 'a' });
    const ben = await account(hub.url, 'ben', { register: true, device: 'b' });
    expect((await tandem(['workspace', 'create', 'books'], { home: ann })).code).toBe(0);
    for (const args of [
      ['workspace', 'leave', 'books'],
      ['workspace', 'share', 'books', 'ann', '--role', 'editor'],
      ['workspace', 'share', 'books', '--user', 'ann', '--role', 'viewer'],
      ['workspace', 'unshare', 'books', 'ann'],
    ]) {
      const refused = await tandem(args, { home: ann });
      expect(refused.code, args.join(' ')).not.toBe(0);
      expect(refused.stderr).toMatch(/^tandem: A workspace always keeps at least one owner/m);
      expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    }
    // A second owner (the positional form), then the first may leave.
    const shared = await tandem(['workspace', 'share', 'books', 'ben', '--role', 'owner'], {
      home: ann,
    });
    expect(shared.code, shared.stderr).toBe(0);
    const members = await tandem(['workspace', 'members', 'books', '--json'], { home: ben });
    expect(members.code, members.stderr).toBe(0);
    expect(JSON.parse(members.stdout)).toEqual({
      workspace: 'books',
      members: [
        { user: 'ann', role: 'owner' },
        { user: 'ben', role: 'owner' },
      ],
    });
    const left = await tandem(['workspace', 'leave', 'books'], { home: ann });
    expect(left.code, left.stderr).toBe(0);
    const annList = await tandem(['workspace', 'list', '--json'], { home: ann });
    expect((JSON.parse(annList.stdout) as Listed).workspaces).toEqual([]);
    const benList = JSON.parse(
      (await tandem(['workspace', 'list', '--json'], { home: ben })).stdout,
    ) as Listed;
    expect(benList.workspaces).toEqual([
      expect.objectContaining({ name: 'books', role: 'owner', owner: 'ben', owners: ['ben'] }),
    ]);
    const last = await tandem(['workspace', 'leave', 'books'], { home: ben });
    expect(last.code).not.toBe(0);
    expect(last.stderr).toMatch(/always keeps at least one owner/);
    // Members listing fails as one JSON document too.
    const gone = await tandem(['workspace', 'members', 'books', '--json'], { home: ann });
    expect(gone.code).not.toBe(0);
    expect(JSON.parse(gone.stdout)).toMatchObject({ error: { code: 'CLI' } });
  });

  it('a shared workspace named like one of your own is named OWNER/NAME, and a bare name is refused', async () => {
    const cora = await account(hub.url, 'cora', { register: true, device: 'c' });
    const dan = await account(hub.url, 'dan', { register: true, device: 'd' });
    for (const home of [cora, dan])
      expect((await tandem(['workspace', 'create', 'photos'], { home })).code).toBe(0);
    // Cora co-owns Dan's: "cora/photos" is still her own, the owner `list` shows.
    expect(
      (await tandem(['workspace', 'share', 'photos', 'cora', '--role', 'owner'], { home: dan }))
        .code,
    ).toBe(0);
    const listed = JSON.parse(
      (await tandem(['workspace', 'list', '--json'], { home: cora })).stdout,
    ) as Listed;
    expect(listed.workspaces.map((w) => [w.name, w.owner, w.owners, w.role])).toEqual([
      ['photos', 'cora', ['cora'], 'owner'],
      ['photos', 'dan', ['cora', 'dan'], 'owner'],
    ]);
    const bare = await tandem(['workspace', 'members', 'photos'], { home: cora });
    expect(bare.code).not.toBe(0);
    expect(bare.stderr).toMatch(/say which, as cora\/photos or dan\/photos/);
    const members = async (name: string) =>
      JSON.parse((await tandem(['workspace', 'members', name, '--json'], { home: cora })).stdout)
        .members as unknown;
    expect(await members('dan/photos')).toEqual([
      { user: 'cora', role: 'owner' },
      { user: 'dan', role: 'owner' },
    ]);
    expect(await members('cora/photos')).toEqual([{ user: 'cora', role: 'owner' }]);
    const left = await tandem(['workspace', 'leave', 'dan/photos'], { home: cora });
    expect(left.code, left.stderr).toBe(0);
    expect(await members('photos')).toEqual([{ user: 'cora', role: 'owner' }]);
  });

  it('a viewer syncs down only; made an editor, its next edit syncs without a restart; unshared, its agent stops', async () => {
    const owner = await account(hub.url, 'olive', { register: true, device: 'o' });
    const viewer = await account(hub.url, 'victor', { register: true, device: 'v' });
    expect((await tandem(['workspace', 'create', 'plans'], { home: owner })).code).toBe(0);
    const share = (role: string) =>
      tandem(['workspace', 'share', 'plans', 'victor', '--role', role], { home: owner });
    expect((await share('viewer')).code).toBe(0);
    const root = await tempDir();
    const dirO = join(root, 'O');
    const dirV = join(root, 'V');
    await syncOnce(dirO, owner, ['--workspace', 'plans']);
    await writeFile(join(dirO, 'notes.txt'), 'from the owner\n');
    await syncOnce(dirO, owner);

    const agentV = background(['sync', dirV, '--workspace', 'plans'], { home: viewer });
    await waitFor(async () => (await contents(join(dirV, 'notes.txt'))) === 'from the owner\n', {
      what: () => `notes.txt on the viewer's device (${agentV.output()})`,
    });
    await writeFile(join(dirV, 'draft.txt'), 'the viewer wrote this\n');
    await waitFor(() => /not uploaded/.test(agentV.output()), {
      what: () => `the viewer's agent to keep its edit local (${agentV.output()})`,
    });
    await syncOnce(dirO, owner);
    expect(await contents(join(dirO, 'draft.txt'))).toBeUndefined();

    // Upgraded: the same agent process sends what waited, and its next edit.
    expect((await share('editor')).code).toBe(0);
    await waitFor(() => /you may now edit this workspace/.test(agentV.output()), {
      what: () => `the viewer's agent to learn it is an editor (${agentV.output()})`,
    });
    await writeFile(join(dirV, 'next.txt'), 'an editor now\n');
    await waitFor(
      async () => {
        await syncOnce(dirO, owner);
        return (await contents(join(dirO, 'next.txt'))) === 'an editor now\n';
      },
      { what: () => `next.txt from the new editor on the hub (${agentV.output()})` },
    );
    expect(await contents(join(dirO, 'draft.txt'))).toBe('the viewer wrote this\n');
    expect(agentV.child.exitCode).toBeNull();

    // Unshared: the agent stops at once, saying why, and the folder keeps its files.
    const unshared = await tandem(['workspace', 'unshare', 'plans', 'victor'], { home: owner });
    expect(unshared.code, unshared.stderr).toBe(0);
    expect(await agentV.exited).not.toBe(0);
    expect(agentV.output()).toMatch(/no longer have access to workspace "plans"/);
    expect(await contents(join(dirV, 'notes.txt'))).toBe('from the owner\n');
  });

  it('a rename keeps linked folders syncing under the new name; a delete stops their agents', async () => {
    const owner = await account(hub.url, 'rhea', { register: true, device: 'r' });
    const member = await account(hub.url, 'milo', { register: true, device: 'm' });
    expect((await tandem(['workspace', 'create', 'old-name'], { home: owner })).code).toBe(0);
    const root = await tempDir();
    const dirR = join(root, 'R');
    const dirM = join(root, 'M');
    await syncOnce(dirR, owner, ['--workspace', 'old-name']);
    await writeFile(join(dirR, 'a.txt'), 'twelve bytes');
    await syncOnce(dirR, owner);
    expect(
      (
        await tandem(['workspace', 'share', 'old-name', 'milo', '--role', 'editor'], {
          home: owner,
        })
      ).code,
    ).toBe(0);
    const agentM = background(['sync', dirM, '--workspace', 'old-name'], { home: member });
    await waitFor(async () => (await contents(join(dirM, 'a.txt'))) === 'twelve bytes', {
      what: () => `a.txt on the member's device (${agentM.output()})`,
    });

    const renamed = await tandem(['workspace', 'rename', 'old-name', 'new-name'], { home: owner });
    expect(renamed.code, renamed.stderr).toBe(0);
    await waitFor(() => /now called "new-name"/.test(agentM.output()), {
      what: () => `the member's agent to hear of the rename (${agentM.output()})`,
    });
    await waitFor(
      async () => /"new-name"/.test((await contents(join(dirM, '.tandem', 'link.json'))) ?? ''),
      {
        what: () => 'link.json to say the new name',
      },
    );
    // The owner's folder, linked under the old name, syncs under the new one.
    await writeFile(join(dirR, 'b.txt'), 'after the rename');
    const again = await syncOnce(dirR, owner, ['--workspace', 'new-name']);
    expect(again.stderr).toMatch(/in sync with "new-name"/);
    await waitFor(async () => (await contents(join(dirM, 'b.txt'))) === 'after the rename', {
      what: () => `b.txt on the member's device (${agentM.output()})`,
    });
    const listed = JSON.parse(
      (await tandem(['workspace', 'list', '--json'], { home: member })).stdout,
    ) as Listed;
    expect(listed.workspaces).toEqual([
      expect.objectContaining({ name: 'new-name', role: 'editor', owner: 'rhea', size: 28 }),
    ]);
    expect(listed.workspaces[0]!.changed).toBeGreaterThan(Date.now() - 120_000);
    const human = await tandem(['workspace', 'list'], { home: member });
    expect(human.stdout).toMatch(
      /^new-name\s+editor\s+rhea\s+28 B\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/m,
    );

    // Deleting: the name again, typed or given; an editor may not; then the agent stops.
    const byMember = await tandem(['workspace', 'delete', 'new-name', '--confirm', 'new-name'], {
      home: member,
    });
    expect(byMember.code).not.toBe(0);
    expect(byMember.stderr).toMatch(/owner access/);
    const mistyped = await tandem(['workspace', 'delete', 'new-name'], {
      home: owner,
      input: 'new-nam\n',
    });
    expect(mistyped.code).not.toBe(0);
    expect(mistyped.stderr).toMatch(/tandem: not deleted/);
    expect(agentM.child.exitCode).toBeNull();
    const deleted = await tandem(['workspace', 'delete', 'new-name'], {
      home: owner,
      input: 'new-name\n',
    });
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(await agentM.exited).not.toBe(0);
    expect(agentM.output()).toMatch(/Workspace "new-name" was deleted on the hub/);
    expect(await contents(join(dirM, 'a.txt'))).toBe('twelve bytes');
    const none = JSON.parse(
      (await tandem(['workspace', 'list', '--json'], { home: owner })).stdout,
    ) as Listed;
    expect(none.workspaces).toEqual([]);
  });
});
