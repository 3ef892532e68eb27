/**
 * Upload previews. A device uploading a large file names the chunks it has stored so far,
 * before it commits, and the hub passes that on to the workspace's other devices so they can
 * start fetching (W3 of the benchmark: the download overlaps the upload instead of following
 * it). The chunks are readable through the workspace because the uploader leased them to it
 * (services/chunks.ts), which is kept in the database: any hub behind it can serve them.
 */
import type { ChunkId } from '../../core/ids.js';
import { checkPath } from '../../core/paths.js';
import type { UploadPreview } from '../../protocol/api.js';
import { TandemError } from '../../protocol/errors.js';
import type { Caller, HubContext } from '../context.js';
import { possessed } from './chunks.js';

/**
 * Passes a preview on to the workspace's other devices. Every chunk it names must be present
 * for the workspace already (uploaded into it, or linked to it), with the size it has: a
 * preview cannot make the bytes of a chunk known only by its hash readable, nor tell other
 * devices a size it does not have. (The route let only editors call it.)
 */
export async function previewUpload(
  ctx: HubContext,
  caller: Caller,
  workspace: string,
  preview: UploadPreview,
): Promise<void> {
  const path = checkPath(preview.path);
  if (!path.ok) throw TandemError.of('INVALID_PATH', JSON.stringify(preview.path), path.reason);
  const ids = preview.chunks.map((c) => c.id as ChunkId);
  const owned = await possessed(ctx.db, workspace, ids, ctx.now());
  const sizes = await ctx.chunks.sizes([...owned]);
  for (const { id, size } of preview.chunks) {
    const stored = sizes.get(id as ChunkId);
    if (stored === undefined) throw TandemError.of('CHUNK_NOT_FOUND', id);
    if (stored !== size)
      throw TandemError.of(
        'BAD_REQUEST',
        `the preview gives chunk ${id} ${size} bytes; it has ${stored}`,
      );
  }
  ctx.events.publish({
    kind: 'preview',
    workspace,
    preview: { ...preview, path: path.path },
    device: caller.deviceId,
  });
}
