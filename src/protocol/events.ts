/**
 * Event messages on the WebSocket at `/api/v1/events`, split by direction. The client states
 * its protocol version in the URL (`?protocol=1`); the hub closes with 4426 on a mismatch.
 * The upgrade request is authenticated like any other (the `Authorization` header): an
 * unknown or revoked token gets an HTTP 401 and no socket. A socket whose device is revoked
 * later is closed with 4401 and the reason; one whose user loses access to a workspace is
 * told so with `unsubscribed` and hears nothing more of it.
 */
import type { Seq } from '../core/ids.js';
import { MAX_PREVIEW_CHUNKS, ROLES, type Role, type UploadPreview } from './api.js';

export const EVENTS_PATH = '/api/v1/events';
export const CLOSE_PROTOCOL_MISMATCH = 4426;
export const CLOSE_UNAUTHENTICATED = 4401;

/** Hub -> client. */
export type HubMessage =
  | { readonly type: 'welcome'; readonly protocol: number }
  | { readonly type: 'changed'; readonly workspace: string; readonly seq: Seq }
  /** Another device is uploading a large file (see UploadPreview). */
  | { readonly type: 'uploading'; readonly workspace: string; readonly preview: UploadPreview }
  /**
   * The caller's role on a workspace, and its name: sent when a socket starts following it,
   * and to every socket of a user whose role there changed (access gained included, so a
   * workspace shared with someone appears at once) or whose workspace was renamed. A hub of
   * an earlier release sends none; a client of one ignores it.
   */
  | {
      readonly type: 'access';
      readonly workspace: string;
      readonly name: string;
      readonly role: Role;
    }
  /**
   * The caller may no longer read the workspace (`ACCESS_REMOVED`, or `WORKSPACE_DELETED`):
   * nothing more of it is sent.
   */
  | {
      readonly type: 'unsubscribed';
      readonly workspace: string;
      readonly code: string;
      readonly message: string;
    }
  | { readonly type: 'error'; readonly code: string; readonly message: string };

/** Client -> hub. */
export type ClientMessage = { readonly type: 'subscribe'; readonly workspaces: readonly string[] };

/** Parses a client message; returns undefined for anything malformed. */
export function parseClientMessage(text: string): ClientMessage | undefined {
  try {
    const value: unknown = JSON.parse(text);
    if (
      typeof value === 'object' &&
      value !== null &&
      (value as { type?: unknown }).type === 'subscribe' &&
      Array.isArray((value as { workspaces?: unknown }).workspaces) &&
      (value as { workspaces: unknown[] }).workspaces.length <= 100 &&
      (value as { workspaces: unknown[] }).workspaces.every(
        (w) => typeof w === 'string' && w.length > 0 && w.length <= 64,
      )
    ) {
      return value as ClientMessage;
    }
  } catch {
    // fall through
  }
  return undefined;
}

/** Parses a hub message; returns undefined for anything malformed or unknown. */
export function parseHubMessage(text: string): HubMessage | undefined {
  try {
    const value = JSON.parse(text) as { type?: unknown };
    if (
      value.type === 'welcome' ||
      value.type === 'changed' ||
      value.type === 'unsubscribed' ||
      value.type === 'error'
    )
      return value as HubMessage;
    if (value.type === 'uploading' && isUploadPreview((value as { preview?: unknown }).preview))
      return value as HubMessage;
    if (value.type === 'access') {
      const { workspace, name, role } = value as {
        workspace?: unknown;
        name?: unknown;
        role?: unknown;
      };
      if (
        typeof workspace === 'string' &&
        typeof name === 'string' &&
        (ROLES as readonly unknown[]).includes(role)
      )
        return value as HubMessage;
    }
  } catch {
    // fall through
  }
  return undefined;
}

/** The shape of an upload preview (the hub validated it against its schema already). */
function isUploadPreview(value: unknown): value is UploadPreview {
  const p = value as Partial<Record<keyof UploadPreview, unknown>> | null | undefined;
  const offset = (n: unknown) => Number.isSafeInteger(n) && (n as number) >= 0;
  return (
    typeof p?.upload === 'string' &&
    typeof p.path === 'string' &&
    offset(p.size) &&
    offset(p.at) &&
    Array.isArray(p.chunks) &&
    p.chunks.length <= MAX_PREVIEW_CHUNKS &&
    p.chunks.every(
      (c: { id?: unknown; size?: unknown } | null) =>
        typeof c?.id === 'string' && /^[0-9a-f]{64}$/.test(c.id) && offset(c.size) && c.size !== 0,
    )
  );
}
