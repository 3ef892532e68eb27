/**
 * A viewer's agent keeps receiving (issue 18): a file its user edits locally stays on the
 * device, is never sent, is listed by `tandem status` as not uploaded (read-only role), and
 * is no reason to stop; the owner's later changes still arrive. Real hub, real agents.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  account,
  background,
  startHub,
  statusOf,
  stopAll,
  tandem,
  tempDir,
  waitFor,
} from '../helpers/processes.js';

afterEach(stopAll);

const contents = (path: string) => readFile(path, 'utf8').catch(() => undefined);

describe('a viewer', () => {
  it('keeps receiving after a local edit, which stays local and is listed as not uploaded', async () => {
    const hub = await startHub();
    const owner = await account(hub.url, 'owner', { register: true, device: 'o' });
    const viewer = await account(hub.url, 'viewer', { register: true, device: 'v' });
    expect((await tandem(['workspace', 'create', 'shown'], { home: owner })).code).toBe(0);
    const shared = await tandem(
      ['workspace', 'share', 'shown', '--user', 'viewer', '--role', 'viewer'],
      {
        home: owner,
      },
    );
    expect(shared.code, shared.stderr).toBe(0);
    const root = await tempDir();
    const dirO = join(root, 'O');
    const dirV = join(root, 'V');
    const once = await tandem(['sync', dirO, '--workspace', 'shown', '--once'], { home: owner });
    expect(once.code, once.stderr).toBe(0);
    await writeFile(join(dirO, 'notes.txt'), 'from the owner\n');

    const agentO = background(['sync', dirO], { home: owner });
    const agentV = background(['sync', dirV, '--workspace', 'shown'], { home: viewer });
    await waitFor(async () => (await contents(join(dirV, 'notes.txt'))) === 'from the owner\n', {
      what: () => `notes.txt on the viewer's device (${agentV.output()})`,
    });

    // The viewer edits a file and makes one: both stay on the device.
    await writeFile(join(dirV, 'notes.txt'), 'the viewer wrote this\n');
    await writeFile(join(dirV, 'mine.txt'), 'only here\n');
    await waitFor(() => /not uploaded/.test(agentV.output()), {
      what: () => `the viewer's agent to say its changes stay local (${agentV.output()})`,
    });
    // ...and the owner's next change still arrives.
    await writeFile(join(dirO, 'later.txt'), 'a later change\n');
    await waitFor(async () => (await contents(join(dirV, 'later.txt'))) === 'a later change\n', {
      what: () => `later.txt on the viewer's device (${agentV.output()})`,
    });
    expect(agentV.child.exitCode).toBeNull();
    expect(await contents(join(dirV, 'notes.txt'))).toBe('the viewer wrote this\n');
    expect(await contents(join(dirO, 'notes.txt'))).toBe('from the owner\n');
    expect(await contents(join(dirO, 'mine.txt'))).toBeUndefined();

    const status = await statusOf<{ readOnly: boolean; notUploaded: string[] }>(dirV, viewer);
    expect(status.code).not.toBe(0);
    const { report } = status;
    expect(report.readOnly).toBe(true);
    expect(report.notUploaded.sort()).toEqual(['mine.txt', 'notes.txt']);
    expect(status.stderr).toMatch(/not uploaded: you may only view/);
    const human = await tandem(['status', dirV], { home: viewer });
    expect(human.stdout).toMatch(/not sent: {2}mine\.txt: not uploaded \(read-only role\)/);
    await agentV.stop();
    await agentO.stop();
  });
});
