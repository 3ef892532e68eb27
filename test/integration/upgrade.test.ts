/**
 * People upgrade in place: a hub data directory, a synced folder and a device config written
 * by the previous landed release (68b5b03, kept in test/fixtures) are opened by this build,
 * which migrates them and syncs on, and a new device receives everything byte for byte.
 */
import Database from 'better-sqlite3';
import { chmod, cp, lstat, mkdir, readFile, readlink, utimes, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { account, startHub, stopAll, tandem, tempDir, waitFor } from '../helpers/processes.js';

const FIXTURE = resolve(import.meta.dirname, '../fixtures/release-68b5b03');

describe('data written by the previous release', () => {
  afterAll(stopAll);

  it('is migrated by the hub and the agent, which sync on with a new device', async () => {
    const root = await tempDir('tandem-upgrade-');
    const dataDir = join(root, 'hub-data');
    await cp(join(FIXTURE, 'hub-data'), dataDir, { recursive: true });
    const hub = await startHub({ dataDir });

    // The old device: its folder (with its state database) and its credentials, moved to the
    // address the hub now listens on, with modification times as they were when it synced.
    const folder = join(root, 'A');
    await cp(join(FIXTURE, 'folder'), folder, { recursive: true, verbatimSymlinks: true });
    await mkdir(join(folder, '.tandem'));
    const stateFile = join(folder, '.tandem/state.db');
    await cp(join(FIXTURE, 'folder-state.db'), stateFile);
    const state = new Database(stateFile);
    const link = JSON.parse(
      (state.prepare("SELECT value FROM meta WHERE key = 'link'").get() as { value: string }).value,
    ) as { hub: string };
    state
      .prepare("UPDATE meta SET value = ? WHERE key = 'link'")
      .run(JSON.stringify({ ...link, hub: hub.url }));
    for (const row of state.prepare('SELECT path, entry FROM base').all() as {
      path: string;
      entry: string;
    }[]) {
      const entry = JSON.parse(row.entry) as { kind: string; mtime?: number };
      if (entry.kind === 'file')
        await utimes(join(folder, row.path), new Date(), new Date(entry.mtime!));
    }
    state.close();
    const homeA = await tempDir('tandem-home-');
    const config = JSON.parse(await readFile(join(FIXTURE, 'device-config.json'), 'utf8')) as {
      server: string;
    };
    await writeFile(join(homeA, 'config.json'), JSON.stringify({ ...config, server: hub.url }), {
      mode: 0o600,
    });

    const first = await tandem(['sync', folder, '--once', '--json'], { home: homeA });
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ settled: true, problems: [] });
    const list = await tandem(['workspace', 'list', '--json'], { home: homeA });
    expect(JSON.parse(list.stdout)).toMatchObject({
      workspaces: [{ name: 'notes', role: 'owner' }],
    });
    // The hub's first user became its administrator in the migration.
    const me = await fetch(`${hub.url}/api/v1/me`, {
      headers: { authorization: `Bearer ${(config as unknown as { token: string }).token}` },
    });
    expect(await me.json()).toMatchObject({ user: { name: 'fixture', admin: true } });

    // A new device of the same user receives every file, link and mode as the old one has them.
    const homeB = await account(hub.url, 'fixture', {
      register: false,
      device: 'new-desktop',
      password: 'fixture password 1',
    });
    const other = join(root, 'B');
    const second = await tandem(['sync', other, '--workspace', 'notes', '--once'], { home: homeB });
    expect(second.code, second.stderr).toBe(0);
    for (const path of ['hello.txt', 'run.sh', 'sub/deep.txt', 'sub/big.bin'])
      expect((await readFile(join(other, path))).equals(await readFile(join(folder, path)))).toBe(
        true,
      );
    expect(await readFile(join(other, 'hello.txt'), 'utf8')).toBe('edited once\n');
    expect(await readlink(join(other, 'link'))).toBe('hello.txt');
    expect((await lstat(join(other, 'run.sh'))).mode & 0o111).not.toBe(0);
    // Rows and state written before modes read as the modes that release wrote, and the new
    // device gets each file's and folder's mode as the old device has it.
    const modeOf = async (path: string) => (await lstat(path)).mode & 0o777;
    for (const path of ['hello.txt', 'run.sh', 'sub', 'sub/deep.txt'])
      expect(await modeOf(join(other, path)), path).toBe(await modeOf(join(folder, path)));

    // And edits keep flowing both ways, a chmod among them.
    await writeFile(join(folder, 'sub/deep.txt'), 'changed after the upgrade\n');
    await chmod(join(folder, 'hello.txt'), 0o600);
    await chmod(join(folder, 'sub'), 0o700);
    await writeFile(join(other, 'from-b.txt'), 'new on B\n');
    await waitFor(
      async () => {
        await tandem(['sync', folder, '--once'], { home: homeA });
        await tandem(['sync', other, '--once'], { home: homeB });
        return (
          (await readFile(join(other, 'sub/deep.txt'), 'utf8')) === 'changed after the upgrade\n' &&
          (await modeOf(join(other, 'hello.txt'))) === 0o600 &&
          (await modeOf(join(other, 'sub'))) === 0o700 &&
          (await readFile(join(folder, 'from-b.txt'), 'utf8').catch(() => '')) === 'new on B\n'
        );
      },
      { timeoutMs: 20_000, what: () => 'edits to travel after the upgrade' },
    );
  });
});
