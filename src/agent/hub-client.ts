/**
 * The agent's client for the hub's HTTP API. It speaks through a Transport: node:http for real
 * hubs, Fastify's `inject` in property tests. Every failure becomes a TandemError carrying
 * the hub's code and message (or UNREACHABLE when no answer came).
 */
import * as http from 'node:http';
import * as https from 'node:https';
import type { ChunkId, ContentId } from '../core/ids.js';
import type { Manifest } from '../core/hashing.js';
import {
  API,
  FEATURES,
  FEATURES_HEADER,
  MAX_IDS_PER_QUERY,
  TANDEM_VERSION,
  type Feature,
  type AuthResponse,
  type ChangesResponse,
  type CommitRequest,
  type CommitResponse,
  type JournalRow,
  type Credentials,
  type DeviceInfo,
  type InviteResponse,
  type AdminUser,
  type ManifestsResponse,
  type MeResponse,
  type MissingResponse,
  type Registration,
  type UploadPreview,
  type MemberInfo,
  type WorkspaceInfo,
} from '../protocol/api.js';
import { TandemError, type ErrorBody } from '../protocol/errors.js';
import { chunkFrameHead, FrameDecoder, splitChunkFrame } from '../protocol/frames.js';
import { MAX_CHUNK_BYTES } from '../store/chunk-store.js';
import { hubTrust, type HubTrust } from './hub-trust.js';

export interface TransportResponse {
  readonly status: number;
  json(): Promise<unknown>;
  /** The body as a stream of bytes. */
  stream(): AsyncIterable<Uint8Array>;
}

export interface TransportRequest {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path and query, starting with `/api/v1`. */
  readonly path: string;
  readonly json?: unknown;
  /** A binary body, in parts sent one after another. */
  readonly bytes?: readonly Uint8Array[];
  readonly token?: string;
  /** The additions to the protocol this device understands, for FEATURES_HEADER. */
  readonly features?: string;
}

export interface Transport {
  /** Where the hub is, for messages. */
  readonly hub: string;
  send(request: TransportRequest): Promise<TransportResponse>;
}

/** Says which release this device runs (`tandem device list` shows it). */
export const USER_AGENT = `tandem/${TANDEM_VERSION}`;

/** How long a request may go without a byte from the hub before it fails. */
const SILENCE_LIMIT_MS = 120_000;

/**
 * The real transport: node:http with keep-alive connections to `hub` (http or https). An
 * https hub's certificate is checked by `trust` (by default the system's CAs); a refused one
 * fails the call with its HubCertificateError (CERTIFICATE_CHANGED for a broken pin) before
 * anything is sent.
 */
export class HttpTransport implements Transport {
  private readonly base: URL;
  private readonly agent: http.Agent;
  private readonly request: typeof http.request;

  constructor(
    readonly hub: string,
    readonly trust: HubTrust = hubTrust(hub),
  ) {
    this.base = new URL(hub);
    const secure = this.base.protocol === 'https:';
    // Bodies are written straight to the socket: no copy of an upload on its way out.
    const options = { keepAlive: true, maxSockets: 16 };
    this.agent = secure ? trust.agent(options) : new http.Agent(options);
    this.request = secure ? https.request : http.request;
  }

  send(request: TransportRequest): Promise<TransportResponse> {
    const headers: Record<string, string | number> = { 'user-agent': USER_AGENT };
    if (request.token) headers.authorization = `Bearer ${request.token}`;
    if (request.features) headers[FEATURES_HEADER] = request.features;
    let parts: readonly Uint8Array[] = [];
    if (request.json !== undefined) {
      headers['content-type'] = 'application/json';
      parts = [Buffer.from(JSON.stringify(request.json))];
    } else if (request.bytes) {
      headers['content-type'] = 'application/octet-stream';
      parts = request.bytes;
    }
    if (request.method !== 'GET')
      headers['content-length'] = parts.reduce((n, part) => n + part.length, 0);
    return new Promise((resolve, reject) => {
      const outgoing = this.request(new URL(request.path, this.base), {
        method: request.method,
        headers,
        agent: this.agent,
      });
      outgoing.on('error', (error: NodeJS.ErrnoException) =>
        reject(
          // A refused certificate already says what happened and what to do.
          error instanceof TandemError
            ? error
            : new TandemError('UNREACHABLE', this.unreachable(error), { cause: error }),
        ),
      );
      outgoing.on('response', (incoming) => resolve(responseOf(incoming)));
      // A hub that stops answering must not hang the agent: no byte for this long fails the call.
      outgoing.setTimeout(SILENCE_LIMIT_MS, () =>
        outgoing.destroy(
          Object.assign(new Error(`no answer for ${SILENCE_LIMIT_MS / 1000} s`), {
            code: 'ETIMEDOUT',
          }),
        ),
      );
      for (const part of parts) outgoing.write(part);
      outgoing.end();
    });
  }

  /** The one line for a request that got no answer. */
  private unreachable(error: NodeJS.ErrnoException): string {
    const code = error.code ?? error.message;
    // An https client talking to a plain http server fails its handshake (EPROTO).
    if (this.base.protocol === 'https:' && (code === 'EPROTO' || code.startsWith('ERR_SSL_')))
      return `The hub at ${this.hub} did not answer in TLS (${code}): if it runs without --tls, use http://${this.base.host}`;
    // A TLS server hangs up on a request in clear.
    if (this.base.protocol === 'http:' && (code === 'ECONNRESET' || code === 'ERR_HTTP_PARSE'))
      return `The hub at ${this.hub} hung up (${code}): if it runs with --tls, use https://${this.base.host}`;
    return TandemError.of('UNREACHABLE', this.hub, code).message;
  }
}

function responseOf(incoming: http.IncomingMessage): TransportResponse {
  if (incoming.statusCode === 204) incoming.resume(); // no body: free the connection now
  return {
    status: incoming.statusCode ?? 0,
    json: async () => {
      const parts: Buffer[] = [];
      for await (const part of incoming) parts.push(part as Buffer);
      return JSON.parse(Buffer.concat(parts).toString('utf8')) as unknown;
    },
    stream: () => incoming,
  };
}

export class HubClient {
  /**
   * True once the hub said it stores modes (in a page of the change feed): puts may carry
   * them. Until then, and with a hub of the release before modes, which refuses an entry
   * with a mode, they are sent without.
   */
  hubModes = false;

  constructor(
    readonly transport: Transport,
    private readonly token?: string,
    /** What this device says it understands (all of FEATURES; tests pretend to be older). */
    private readonly features: readonly Feature[] = FEATURES,
  ) {}

  private async call<T>(request: Omit<TransportRequest, 'token' | 'features'>): Promise<T> {
    const features = this.features.join(',');
    const response = await this.transport.send({
      ...request,
      ...(this.token ? { token: this.token } : {}),
      ...(features !== '' ? { features } : {}),
    });
    if (response.status >= 400) throw await errorOf(response, this.transport.hub);
    if (response.status === 204) return undefined as T;
    return (await response.json()) as T;
  }

  register(credentials: Registration): Promise<AuthResponse> {
    return this.call({ method: 'POST', path: `${API}/auth/register`, json: credentials });
  }

  login(credentials: Credentials): Promise<AuthResponse> {
    return this.call({ method: 'POST', path: `${API}/auth/login`, json: credentials });
  }

  me(): Promise<MeResponse> {
    return this.call({ method: 'GET', path: `${API}/me` });
  }

  /** A one-time registration code (administrators only). */
  createInvite(): Promise<InviteResponse> {
    return this.call({ method: 'POST', path: `${API}/admin/invites` });
  }

  /** Every user of the hub with their usage (administrators only). */
  async adminUsers(): Promise<AdminUser[]> {
    return (await this.call<{ users: AdminUser[] }>({ method: 'GET', path: `${API}/admin/users` }))
      .users;
  }

  /** Disables or enables an account (administrators only); answers the user as it is now. */
  async setUserDisabled(user: string, disabled: boolean): Promise<AdminUser> {
    const action = disabled ? 'disable' : 'enable';
    return (
      await this.call<{ user: AdminUser }>({
        method: 'POST',
        path: `${API}/admin/users/${encodeURIComponent(user)}/${action}`,
      })
    ).user;
  }

  /** Gives a user a new random password and answers it (administrators only). */
  resetPassword(user: string): Promise<{ user: string; password: string }> {
    return this.call({
      method: 'POST',
      path: `${API}/admin/users/${encodeURIComponent(user)}/reset-password`,
    });
  }

  /** Sets a user's quota (bytes, 'none' or 'default'; administrators only). */
  setUserQuota(user: string, quota: number | 'none' | 'default'): Promise<void> {
    return this.call({
      method: 'PUT',
      path: `${API}/admin/users/${encodeURIComponent(user)}/quota`,
      json: { quota },
    });
  }

  /** Sets the hub's default quota (bytes, or null for none; administrators only). */
  setDefaultQuota(quota: number | null): Promise<void> {
    return this.call({ method: 'PUT', path: `${API}/admin/default-quota`, json: { quota } });
  }

  /** Changes the user's password; WRONG_PASSWORD when `current` is not it. */
  changePassword(current: string, password: string): Promise<void> {
    return this.call({ method: 'POST', path: `${API}/auth/password`, json: { current, password } });
  }

  async devices(): Promise<DeviceInfo[]> {
    return (await this.call<{ devices: DeviceInfo[] }>({ method: 'GET', path: `${API}/devices` }))
      .devices;
  }

  /** Revokes one of the user's devices (this one too): its token stops working at once. */
  revokeDevice(id: string): Promise<void> {
    return this.call({ method: 'DELETE', path: `${API}/devices/${encodeURIComponent(id)}` });
  }

  async listWorkspaces(): Promise<WorkspaceInfo[]> {
    return (
      await this.call<{ workspaces: WorkspaceInfo[] }>({ method: 'GET', path: `${API}/workspaces` })
    ).workspaces;
  }

  createWorkspace(name: string): Promise<WorkspaceInfo> {
    return this.call({ method: 'POST', path: `${API}/workspaces`, json: { name } });
  }

  setMember(workspace: string, user: string, role: string): Promise<void> {
    return this.call({
      method: 'PUT',
      path: `${API}/workspaces/${workspace}/members`,
      json: { user, role },
    });
  }

  removeMember(workspace: string, user: string): Promise<void> {
    return this.call({
      method: 'DELETE',
      path: `${API}/workspaces/${workspace}/members/${encodeURIComponent(user)}`,
    });
  }

  async members(workspace: string): Promise<MemberInfo[]> {
    return (
      await this.call<{ members: MemberInfo[] }>({
        method: 'GET',
        path: `${API}/workspaces/${workspace}/members`,
      })
    ).members;
  }

  leave(workspace: string): Promise<void> {
    return this.call({ method: 'POST', path: `${API}/workspaces/${workspace}/leave` });
  }

  renameWorkspace(workspace: string, name: string): Promise<void> {
    return this.call({ method: 'PATCH', path: `${API}/workspaces/${workspace}`, json: { name } });
  }

  deleteWorkspace(workspace: string): Promise<void> {
    return this.call({ method: 'DELETE', path: `${API}/workspaces/${workspace}` });
  }

  async changes(workspace: string, since: number, limit = 10_000): Promise<ChangesResponse> {
    const page = await this.call<ChangesResponse>({
      method: 'GET',
      path: `${API}/workspaces/${workspace}/changes?since=${since}&limit=${limit}`,
    });
    this.hubModes = this.features.includes('modes') && page?.modes === true;
    return page;
  }

  history(workspace: string, path: string): Promise<{ rows: JournalRow[] }> {
    return this.call({
      method: 'GET',
      path: `${API}/workspaces/${workspace}/history?path=${encodeURIComponent(path)}`,
    });
  }

  /**
   * The ids the hub lacks, asked in batches. `growth` is how many bytes the files these
   * chunks belong to add to the workspace: the hub refuses (QUOTA_EXCEEDED) when that would
   * take its owner past their quota. It is said with the first batch only.
   */
  async missing(workspace: string, ids: readonly ChunkId[], growth = 0): Promise<Set<ChunkId>> {
    const out = new Set<ChunkId>();
    for (let i = 0; i < ids.length; i += MAX_IDS_PER_QUERY) {
      const query = i === 0 && growth > 0 ? `?growth=${Math.floor(growth)}` : '';
      const { missing } = await this.call<MissingResponse>({
        method: 'POST',
        path: `${API}/workspaces/${workspace}/chunks/missing${query}`,
        json: { ids: ids.slice(i, i + MAX_IDS_PER_QUERY) },
      });
      for (const id of missing) out.add(id);
    }
    return out;
  }

  /** Names chunks of a large file being uploaded, for other devices (see UploadPreview). */
  async previewUpload(workspace: string, preview: UploadPreview): Promise<void> {
    await this.call({
      method: 'POST',
      path: `${API}/workspaces/${workspace}/previews`,
      json: preview,
    });
  }

  /** Uploads chunks in one request, framed as [u32 length][32-byte id][bytes]. */
  async uploadChunks(
    workspace: string,
    chunks: readonly { id: ChunkId; bytes: Uint8Array }[],
  ): Promise<void> {
    const parts: Uint8Array[] = [];
    for (const chunk of chunks) {
      parts.push(chunkFrameHead(chunk.id, chunk.bytes.length), chunk.bytes);
    }
    await this.call({
      method: 'POST',
      path: `${API}/workspaces/${workspace}/chunks`,
      bytes: parts,
    });
  }

  /** Streams chunks from the hub in request order; each is checked against its id by the caller. */
  async *fetchChunks(
    workspace: string,
    ids: readonly ChunkId[],
  ): AsyncGenerator<{ id: ChunkId; bytes: Buffer }> {
    for await (const { id, parts } of this.fetchChunkParts(workspace, ids))
      yield { id, bytes: parts.length === 1 ? parts[0]! : Buffer.concat(parts) };
  }

  /**
   * Like `fetchChunks`, with each chunk as the views of the received buffers that hold it:
   * nothing is copied (a large download made as much garbage again as it received).
   */
  async *fetchChunkParts(
    workspace: string,
    ids: readonly ChunkId[],
  ): AsyncGenerator<{ id: ChunkId; parts: Buffer[]; size: number }> {
    const response = await this.transport.send({
      method: 'POST',
      path: `${API}/workspaces/${workspace}/chunks/fetch`,
      json: { ids },
      ...(this.token ? { token: this.token } : {}),
    });
    if (response.status >= 400) throw await errorOf(response, this.transport.hub);
    const decoder = new FrameDecoder(MAX_CHUNK_BYTES + 32);
    for await (const data of response.stream()) {
      for (const frame of decoder.pushParts(
        Buffer.from(data.buffer, data.byteOffset, data.byteLength),
      )) {
        const chunk = splitChunkFrame(frame);
        if (!chunk) throw TandemError.of('BAD_REQUEST', 'the hub sent a chunk frame without an id');
        yield chunk;
      }
    }
    if (!decoder.idle) throw TandemError.of('BAD_REQUEST', 'the hub ended a chunk download early');
  }

  async manifests(workspace: string, ids: readonly ContentId[]): Promise<Manifest[]> {
    const out: Manifest[] = [];
    for (let i = 0; i < ids.length; i += MAX_IDS_PER_QUERY) {
      const { manifests } = await this.call<ManifestsResponse>({
        method: 'POST',
        path: `${API}/workspaces/${workspace}/contents/fetch`,
        json: { ids: ids.slice(i, i + MAX_IDS_PER_QUERY) },
      });
      out.push(...manifests);
    }
    return out;
  }

  commit(workspace: string, request: CommitRequest): Promise<CommitResponse> {
    return this.call({
      method: 'POST',
      path: `${API}/workspaces/${workspace}/commit`,
      json: request,
    });
  }
}

async function errorOf(response: TransportResponse, hub: string): Promise<TandemError> {
  try {
    const body = (await response.json()) as ErrorBody;
    if (body?.error?.message) {
      return new TandemError(body.error.code as never, body.error.message, {
        status: response.status,
      });
    }
  } catch {
    // not a Tandem error body
  }
  return new TandemError('INTERNAL', `the hub at ${hub} answered HTTP ${response.status}`, {
    status: response.status,
  });
}
