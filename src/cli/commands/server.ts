/**
 * `tandem server`: the hub on its embedded defaults (SQLite + chunk folder under --data), over
 * http, or https with a given certificate (--tls-cert/--tls-key) or one it makes once (--tls).
 * `tandem server fingerprint`: the fingerprint devices pin (`login --fingerprint`).
 */
import type { Command } from 'commander';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { fingerprintHex } from '../../core/fingerprint.js';
import type { TlsMaterial } from '../../server/tls.js';
import { CliError, jsonOption, printJson, printLine } from '../output.js';

interface ServerOptions {
  data: string;
  host: string;
  port: string;
  verbose?: boolean;
  logLevel: string;
  tls?: boolean;
  tlsCert?: string;
  tlsKey?: string;
}

export function registerServerCommand(program: Command): void {
  const server = program
    .command('server')
    .description('run the hub: stores every version and keeps devices in step')
    .option('--data <dir>', 'where metadata and chunks live', './tandem-data')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0 picks a free one)', '8080')
    .option(
      '--tls',
      'serve https with a self-signed certificate made once in DATA/tls (prints its fingerprint)',
    )
    .option('--tls-cert <file>', 'serve https with this certificate (PEM, chain after it)')
    .option('--tls-key <file>', 'the private key of --tls-cert (PEM)')
    .option(
      '--log-level <level>',
      `how much to log on stderr, as JSON lines with request ids: ${LOG_LEVEL_NAMES.join(', ')}`,
      'info',
    )
    .option('--verbose', 'the same as --log-level debug')
    .action(async (options: ServerOptions) => {
      const port = Number(options.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535)
        throw new CliError(`--port must be a number from 0 to 65535, not ${options.port}`);
      const logLevel = options.verbose ? 'debug' : options.logLevel;
      if (!isLogLevel(logLevel))
        throw new CliError(
          `--log-level must be one of ${LOG_LEVEL_NAMES.join(', ')}, not ${JSON.stringify(logLevel)}`,
        );
      const dataDir = resolve(options.data);
      const tls = await tlsMaterial(options, dataDir);
      const { openHub } = await import('../../server/hub.js');
      let app;
      try {
        app = await openHub({
          dataDir,
          logLevel,
          ...(tls ? { tls: { cert: tls.cert, key: tls.key } } : {}),
        });
      } catch (error) {
        throw new CliError(`cannot open the hub's data in ${dataDir}: ${(error as Error).message}`);
      }
      try {
        await app.listen({ host: options.host, port });
      } catch (error) {
        await app.close();
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'EADDRINUSE')
          throw new CliError(
            `port ${port} on ${options.host} is already in use: stop the other program or pick another with --port`,
          );
        if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND')
          throw new CliError(`cannot listen on ${options.host}: not an address of this machine`);
        throw new CliError(`cannot listen on ${options.host}:${port}: ${(error as Error).message}`);
      }
      const address = app.server.address();
      const actualPort = typeof address === 'object' && address ? address.port : port;
      const host = options.host.includes(':') ? `[${options.host}]` : options.host;
      if (!tls && !isLoopback(options.host))
        process.stderr.write(
          `warning: listening on ${options.host} without TLS: device tokens, passwords and files travel in clear over the network; restart with --tls (a generated certificate) or --tls-cert FILE --tls-key FILE\n`,
        );
      // The stop is in place before anyone is told the hub listens: a Ctrl-C right after
      // the line still closes it cleanly.
      const stopped = new Promise<void>((done) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          void app.close().then(done, done);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      printLine(`listening on ${tls ? 'https' : 'http'}://${host}:${actualPort}`);
      process.stderr.write(`data in ${dataDir}; stop with Ctrl-C\n`);
      await stopped;
    });

  // `server`'s own options are read wherever they appear on the line (commander), so this
  // subcommand takes --data and --tls-cert from them instead of declaring its own.
  server
    .command('fingerprint')
    .description("print the SHA-256 fingerprint of the hub's certificate, as devices pin it")
    .usage('[--data DIR] [--tls-cert FILE] [--json]')
    .addHelpText(
      'after',
      '\nThe certificate is the one `tandem server --tls` made in DIR/tls (--data, default ./tandem-data),\nor the one given with --tls-cert FILE. The fingerprint is printed as SHA256:<base64>.',
    )
    .addOption(jsonOption())
    .action(async (options: { json?: boolean }, command: Command) => {
      const parent = command.parent!.opts<ServerOptions>();
      const tlsModule = await import('../../server/tls.js');
      const dataDir = resolve(parent.data);
      let info;
      try {
        info = parent.tlsCert
          ? { ...(await tlsModule.certificateFileInfo(resolve(parent.tlsCert))), generated: false }
          : await tlsModule.readGeneratedCertificate(dataDir);
      } catch (error) {
        throw new CliError((error as Error).message);
      }
      if (!info)
        throw new CliError(
          `no certificate in ${tlsModule.generatedTlsDir(dataDir)}: the hub makes one when it starts with --tls (or name yours with --tls-cert FILE)`,
        );
      if (options.json)
        printJson({
          fingerprint: info.fingerprint,
          sha256: fingerprintHex(info.fingerprint),
          certificate: info.certFile,
          generated: info.generated,
          names: info.names,
          validTo: info.validTo.toISOString(),
        });
      else printLine(info.fingerprint);
    });
}

/** The certificate to serve with, from the options; undefined for plain http. */
async function tlsMaterial(
  options: ServerOptions,
  dataDir: string,
): Promise<TlsMaterial | undefined> {
  if (!options.tls && !options.tlsCert && !options.tlsKey) return undefined;
  if (options.tls && (options.tlsCert || options.tlsKey))
    throw new CliError(
      '--tls makes a certificate and --tls-cert/--tls-key give one: use one or the other',
    );
  if (!options.tls && (!options.tlsCert || !options.tlsKey))
    throw new CliError(
      `--${options.tlsCert ? 'tls-key' : 'tls-cert'} is missing: --tls-cert FILE and --tls-key FILE go together`,
    );
  const tls = await import('../../server/tls.js');
  let material: TlsMaterial;
  try {
    if (options.tls) {
      const made = await tls.ensureGeneratedCertificate(dataDir, options.host);
      if (made.created)
        process.stderr.write(
          `made a self-signed certificate in ${tls.generatedTlsDir(dataDir)} (valid until ${made.validTo.toISOString().slice(0, 10)}); it is reused on every start\n`,
        );
      material = made;
    } else {
      material = await tls.loadCertificate(resolve(options.tlsCert!), resolve(options.tlsKey!));
    }
  } catch (error) {
    if (error instanceof tls.CertificateError) throw new CliError(error.message);
    throw new CliError(`cannot set up TLS in ${dataDir}: ${(error as Error).message}`);
  }
  process.stderr.write(
    `certificate fingerprint: ${material.fingerprint} (devices that do not trust it pin it with --fingerprint ${material.fingerprint} when they register or log in)\n`,
  );
  return material;
}

/** The hub's log levels (server/app.ts LOG_LEVELS; not imported, so the CLI starts fast). */
const LOG_LEVEL_NAMES = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const isLogLevel = (level: string): level is (typeof LOG_LEVEL_NAMES)[number] =>
  (LOG_LEVEL_NAMES as readonly string[]).includes(level);

/** True for addresses only this machine can reach: 127.0.0.0/8, ::1 and localhost. */
function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (bare === 'localhost' || bare === '::1') return true;
  const v4 = bare.replace(/^::ffff:/, '');
  return isIP(v4) === 4 && v4.startsWith('127.');
}
