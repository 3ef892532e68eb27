/**
 * How the CLI talks to people: results on stdout (or one JSON document with --json),
 * progress and errors on stderr, one line per error, never a stack trace.
 */
import { Option } from 'commander';
import { describeLocalError } from '../agent/local-errors.js';
import { TandemError } from '../protocol/errors.js';

/** An error meant for the person at the terminal; `exitCode` defaults to 1. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** Whether this process printed its JSON document already (a failure then adds none). */
let printedJson = false;

export function printJson(value: unknown): void {
  printedJson = true;
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function printLine(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** A progress or log line on stderr, prefixed with the local time. */
export function progress(line: string): void {
  const time = new Date().toTimeString().slice(0, 8);
  process.stderr.write(`${time} ${line}\n`);
}

/** The one line a person sees for an error. */
export function describeError(error: unknown): string {
  if (error instanceof CliError || error instanceof TandemError) return error.message;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const message = error instanceof Error ? error.message : String(error);
  // (The cause in words, once: not "EACCES: permission denied, open …" after "permission denied".)
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return `${describeLocalError(error)}: check that this user may write there`;
    case 'ENOSPC':
    case 'EDQUOT':
    case 'SQLITE_FULL':
      return `${describeLocalError(error)}: free some space and try again`;
    case 'EROFS':
      return `${describeLocalError(error)}: mount it for writing and try again`;
    default:
      // (The commands that open a folder's state say which and what to do; this is the rest.)
      if (code?.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB')
        return `a state database is damaged (${message}): run \`tandem sync DIR\` on the synced folder to rebuild its .tandem/state.db from the folder and the hub`;
      return `unexpected error: ${message} (please report this)`;
  }
}

/**
 * Prints the error as one line on stderr and sets the exit code; with `json`, also one JSON
 * document `{ error: { code, message } }` on stdout, as a command run with --json promises.
 */
export function fail(error: unknown, json = false): void {
  const message = describeError(error).replace(/\n/g, ' ');
  process.stderr.write(`tandem: ${message}\n`);
  if (json && !printedJson) printJson({ error: { code: errorCodeOf(error), message } });
  if (process.env.TANDEM_DEBUG && error instanceof Error) process.stderr.write(`${error.stack}\n`);
  process.exitCode = error instanceof CliError ? error.exitCode : 1;
}

/** A stable code for an error, for `--json` output. */
function errorCodeOf(error: unknown): string {
  if (error instanceof TandemError) return error.code;
  if (error instanceof CliError) return 'CLI';
  return (error as NodeJS.ErrnoException | undefined)?.code ?? 'UNEXPECTED';
}

/** A table with aligned columns, for human output. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows)
    row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows
    .map((row) =>
      row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '),
    )
    .join('\n');
}

/** `--json` for commands that list or report. */
export function jsonOption(): Option {
  return new Option('--json', 'print one JSON document on stdout');
}
