/**
 * Upload previews. A device uploading a large file names the chunks it has stored so far,
 * before it commits, and the hub passes that on to the workspace's other devices so they can
 * start fetching (W3 of the benchmark: the download overlaps the upload instead of following
 * it). Until a commit links them to the workspace, previewed chunks are readable through it
 * for a while. This is kept in the memory of the hub that received the preview: a device on
 * another hub behind the same database simply fetches after the commit, as without previews.
 */
import type { ChunkId } from '../../core/ids.js';
import { checkPath } from '../../core/paths.js';
import type { UploadPreview } from '../../protocol/api.js';
import { TandemError } from '../../protocol/errors.js';
import type { Caller, HubContext } from '../context.js';

/** How long a previewed chunk stays readable without a commit. */
export const PREVIEW_TTL_MS = 10 * 60_000;
/** Previewed chunks remembered per workspace (about 50 GiB of 256 KiB chunks). */
const MAX_PREVIEWED = 200_000;

export class PreviewedChunks {
  /** Per workspace, each previewed chunk and when it stops being readable. */
  private readonly byWorkspace = new Map<string, Map<ChunkId, number>>();

  constructor(private readonly now: () => number) {}

  add(workspace: string, ids: readonly ChunkId[]): void {
    const now = this.now();
    let chunks = this.byWorkspace.get(workspace);
    if (!chunks) this.byWorkspace.set(workspace, (chunks = new Map()));
    if (chunks.size + ids.length > MAX_PREVIEWED) {
      for (const [id, until] of chunks) if (until <= now) chunks.delete(id);
      // Still full: the oldest go first (a Map iterates in insertion order).
      for (const id of chunks.keys()) {
        if (chunks.size + ids.length <= MAX_PREVIEWED) break;
        chunks.delete(id);
      }
    }
    for (const id of ids) {
      chunks.delete(id); // re-inserted last, so the oldest stay first
      chunks.set(id, now + PREVIEW_TTL_MS);
    }
  }

  has(workspace: string, id: ChunkId): boolean {
    const until = this.byWorkspace.get(workspace)?.get(id);
    return until !== undefined && until > this.now();
  }
}

/**
 * Passes a preview on to the workspace's other devices. Every chunk it names must be stored
 * already (the uploader announces what the hub acknowledged). The caller checked the editor
 * role, so it learns nothing it could not learn by asking which chunks are missing.
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
  const present = await ctx.chunks.has([...new Set(ids)]);
  const absent = ids.find((id) => !present.has(id));
  if (absent) throw TandemError.of('CHUNK_NOT_FOUND', absent);
  ctx.previews.add(workspace, ids);
  ctx.events.publish({
    kind: 'preview',
    workspace,
    preview: { ...preview, path: path.path },
    device: caller.deviceId,
  });
}
