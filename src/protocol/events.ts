/**
 * Event messages on the WebSocket at `/api/v1/events`, split by direction. The client states
 * its protocol version in the URL (`?protocol=1`); the hub closes with 4426 on a mismatch.
 */
import type { Seq } from '../core/ids.js';

export const EVENTS_PATH = '/api/v1/events';
export const CLOSE_PROTOCOL_MISMATCH = 4426;
export const CLOSE_UNAUTHENTICATED = 4401;

/** Hub -> client. */
export type HubMessage =
  | { readonly type: 'welcome'; readonly protocol: number }
  | { readonly type: 'changed'; readonly workspace: string; readonly seq: Seq }
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
      (value as { workspaces: unknown[] }).workspaces.every((w) => typeof w === 'string')
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
    if (value.type === 'welcome' || value.type === 'changed' || value.type === 'error')
      return value as HubMessage;
  } catch {
    // fall through
  }
  return undefined;
}
