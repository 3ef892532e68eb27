/**
 * The closed registry of error codes: each with its HTTP status and a message a person can
 * act on. The JSON error body is always `{ error: { code, message } }`.
 */

export const ERRORS = {
  BAD_REQUEST: { status: 400, message: 'The request is not valid: %s' },
  INVALID_PATH: { status: 400, message: 'Invalid path %s: %s' },
  UNAUTHENTICATED: {
    status: 401,
    message: 'Not signed in, or the device token was revoked: run `tandem login`',
  },
  DEVICE_REVOKED: {
    status: 401,
    message: 'This device was revoked on the hub: sign in again with `tandem login`',
  },
  ACCOUNT_DISABLED: {
    status: 401,
    message:
      'This account was disabled by an administrator of the hub: ask them to enable it again (its files are kept)',
  },
  QUOTA_EXCEEDED: {
    status: 413,
    message:
      "Workspace %s is at its owner's quota of %s: nothing more is uploaded until space is freed (delete files, or ask the administrator for more)",
  },
  WEAK_PASSWORD: {
    status: 400,
    message: 'A password must have at least %s characters (this one has %s): choose a longer one',
  },
  WRONG_PASSWORD: { status: 401, message: 'Wrong user name or password' },
  FORBIDDEN: { status: 403, message: 'You do not have %s access to this workspace' },
  ADMIN_ONLY: { status: 403, message: 'Only an administrator of this hub may do this' },
  ACCESS_REMOVED: {
    status: 403,
    message: 'You no longer have access to workspace %s: ask one of its owners to share it again',
  },
  REGISTRATION_CLOSED: {
    status: 403,
    message: 'This hub does not take new accounts: ask its administrator',
  },
  INVITE_REQUIRED: {
    status: 403,
    message:
      'This hub takes new accounts by invitation only: ask its administrator for a code (`tandem admin invite`) and pass it with --invite CODE',
  },
  INVITE_INVALID: {
    status: 403,
    message:
      'This invite code is unknown, used already or expired: ask the administrator for a new one',
  },
  NOT_FOUND: { status: 404, message: '%s not found' },
  WORKSPACE_NOT_FOUND: { status: 404, message: 'No workspace %s (see `tandem workspace list`)' },
  CHUNK_NOT_FOUND: { status: 404, message: 'Chunk %s is not stored in this workspace' },
  LAST_OWNER: {
    status: 409,
    message:
      'A workspace always keeps at least one owner, and this is its last: make someone else an owner first (`tandem workspace share NAME USER --role owner`), or delete the workspace (`tandem workspace delete NAME`)',
  },
  WORKSPACE_DELETED: {
    status: 410,
    message:
      'Workspace %s was deleted on the hub by one of its owners: nothing more is synced, and the files in this folder stay as they are',
  },
  WORKSPACE_NAME_TAKEN: {
    status: 409,
    message: "The workspace's creator already has a workspace named %s: choose another name",
  },
  USER_EXISTS: { status: 409, message: 'User %s already exists: use `tandem login`' },
  WORKSPACE_EXISTS: { status: 409, message: 'You already have a workspace named %s' },
  MISSING_CHUNKS: {
    status: 409,
    message: 'The hub lacks %s chunk(s) of this content: upload them first',
  },
  CHUNK_MISMATCH: { status: 422, message: 'Chunk bytes do not match their id %s' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'The request is larger than the hub accepts (%s)' },
  RATE_LIMITED: {
    status: 429,
    message: 'Too many failed sign-ins from this address: try again in %s',
  },
  CURSOR_AHEAD: {
    status: 409,
    message: 'The cursor %s is ahead of the hub (head %s): the hub was restored, resync from zero',
  },
  UPGRADE_REQUIRED: { status: 426, message: '%s' },
  PROTOCOL_MISMATCH: {
    status: 426,
    message: 'This hub speaks protocol %s, the client %s: upgrade the older one',
  },
  UNREACHABLE: {
    status: 503,
    message: 'Cannot reach the hub at %s (%s): is `tandem server` running there?',
  },
  INTERNAL: { status: 500, message: 'The hub failed: %s' },
  HUB_UNAVAILABLE: { status: 503, message: 'The hub cannot serve requests now: %s' },
  UNSUPPORTED_MEDIA: { status: 415, message: 'The hub does not take that type of body here: %s' },
  CERTIFICATE_CHANGED: {
    status: 495,
    message:
      "The hub at %s presented another certificate than the one this device pinned: expected %s, the hub presented %s; if the hub's certificate was renewed on purpose, run `tandem login --server %s --fingerprint %s --user NAME --password-stdin` again",
  },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

export interface ErrorBody {
  readonly error: {
    readonly code: ErrorCode | string;
    readonly message: string;
    /** The hub's id of the request, also in its log and the `x-request-id` header. */
    readonly requestId?: string;
  };
}

/** Fills a template's `%s` holes in order. */
export function formatError(code: ErrorCode, ...args: readonly (string | number)[]): string {
  let i = 0;
  return ERRORS[code].message.replace(/%s/g, () => String(args[i++] ?? ''));
}

/**
 * An error the hub reports to a client, or a client reports to a person. Carries the code,
 * the HTTP status and a message that says what to do.
 */
export class TandemError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown; status?: number },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TandemError';
    this.status = options?.status ?? ERRORS[code].status;
  }

  static of(code: ErrorCode, ...args: readonly (string | number)[]): TandemError {
    return new TandemError(code, formatError(code, ...args));
  }

  toBody(): ErrorBody {
    return { error: { code: this.code, message: this.message } };
  }
}
