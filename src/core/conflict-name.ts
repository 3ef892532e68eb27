/**
 * The one function that names conflicted copies:
 * `NAME (conflicted copy YYYY-MM-DD HHMMSS from DEVICE).EXT`.
 * Pure; the time is a parameter and is written in UTC so that every device names a copy the
 * same way.
 */
import { baseName, joinPath, parentOf } from './paths.js';

const UNSAFE_DEVICE_CHARS = /[/\\\u0000-\u001f\u007f()]/g; // eslint-disable-line no-control-regex

function pad(value: number, width = 2): string {
  return String(value).padStart(width, '0');
}

/** `YYYY-MM-DD HHMMSS` in UTC. */
export function conflictStamp(time: Date): string {
  return (
    `${time.getUTCFullYear()}-${pad(time.getUTCMonth() + 1)}-${pad(time.getUTCDate())} ` +
    `${pad(time.getUTCHours())}${pad(time.getUTCMinutes())}${pad(time.getUTCSeconds())}`
  );
}

/**
 * Splits a file name into stem and extension. A leading dot is part of the stem (`.bashrc`
 * has no extension); folders never have one.
 */
export function splitExtension(name: string, isDir: boolean): { stem: string; ext: string } {
  if (isDir) return { stem: name, ext: '' };
  const dot = name.lastIndexOf('.');
  if (dot <= 0 || dot === name.length - 1) return { stem: name, ext: '' };
  return { stem: name.slice(0, dot), ext: name.slice(dot) };
}

/**
 * The path for a conflicted copy of `path`. `taken` says whether a candidate is already used;
 * the first free of `... from DEVICE)`, `... from DEVICE 2)`, `... 3)` is returned. A copy of
 * a copy gets a second marker: names stay unique and readable.
 */
export function conflictedCopyPath(
  path: string,
  options: { time: Date; device: string; isDir?: boolean; taken?: (candidate: string) => boolean },
): string {
  const device = options.device.replace(UNSAFE_DEVICE_CHARS, '_').trim() || 'unknown device';
  const { stem, ext } = splitExtension(baseName(path), options.isDir ?? false);
  const stamp = conflictStamp(options.time);
  for (let n = 1; ; n++) {
    const suffix = n === 1 ? '' : ` ${n}`;
    const marker = ` (conflicted copy ${stamp} from ${device}${suffix})`;
    const candidate = joinPath(parentOf(path), fitName(stem, marker + ext));
    if (!options.taken?.(candidate)) return candidate;
  }
}

/** Joins stem and tail, shortening the stem so the name stays within 255 bytes of UTF-8. */
function fitName(stem: string, tail: string): string {
  const encoder = new TextEncoder();
  const room = 255 - encoder.encode(tail).length;
  let head = stem;
  while (encoder.encode(head).length > room) head = [...head].slice(0, -1).join('');
  return head + tail;
}
