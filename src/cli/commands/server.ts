/**
 * `tandem server`: the hub on its embedded defaults (SQLite + chunk folder under --data), over
 * http, or https with a given certificate (--tls-cert/--tls-key) or one it makes once (--tls).
 * `tandem server fingerprint`: the fingerprint devices pin (`login --fingerprint`).
 */
import type { Command } from 'commander';
import { isIP } from 'node:net';
import { fingerprintHex } from '../../core/fingerprint.js';
import type { TlsMaterial } from '../../server/tls.js';
import { CliError, jsonOption, printJson, printLine } from '../output.js';
import {
  envName,
  LOG_LEVEL_NAMES,
  resolveServerSettings,
  SETTING_NAMES,
  type GivenFlags,
  type ServerSettings,
} from '../server-settings.js';

/** The options as commander gives them: only those typed (the defaults are the settings'). */
interface ServerOptions {
  config?: string;
  data?: string;
  host?: string;
  port?: string;
  registration?: string;
  verbose?: boolean;
  logLevel?: string;
  tls?: boolean;
  tlsCert?: string;
  tlsKey?: string;
  metricsHost?: string;
  metricsPort?: string;
}

/** The settings from the command line, the environment (TANDEM_*) and --config FILE. */
function settingsOf(options: ServerOptions): Promise<ServerSettings> {
  const flags: GivenFlags = {
    ...(options.data !== undefined ? { data: options.data } : {}),
    ...(options.host !== undefined ? { host: options.host } : {}),
    ...(options.port !== undefined ? { port: options.port } : {}),
    ...(options.tls !== undefined ? { tls: options.tls } : {}),
    ...(options.tlsCert !== undefined ? { 'tls-cert': options.tlsCert } : {}),
    ...(options.tlsKey !== undefined ? { 'tls-key': options.tlsKey } : {}),
    ...(options.verbose ? { 'log-level': 'debug' } : {}),
    ...(options.logLevel !== undefined ? { 'log-level': options.logLevel } : {}),
    ...(options.metricsHost !== undefined ? { 'metrics-host': options.metricsHost } : {}),
    ...(options.metricsPort !== undefined ? { 'metrics-port': options.metricsPort } : {}),
    ...(options.registration !== undefined ? { registration: options.registration } : {}),
  };
  return resolveServerSettings(flags, process.env, options.config);
}

export function registerServerCommand(program: Command): void {
  const server = program
    .command('server')
    .description('run the hub: stores every version and keeps devices in step')
    .option(
      '--config <file>',
      'read these settings from a file (TOML if it ends in .toml, else JSON; the same names as the flags); TANDEM_* variables override it, flags override both',
    )
    .option('--data <dir>', 'where metadata and chunks live (default: ./tandem-data)')
    .option('--host <host>', 'address to listen on (default: 127.0.0.1)')
    .option('--port <port>', 'port to listen on, 0 picks a free one (default: 8080)')
    .option(
      '--tls',
      'serve https with a self-signed certificate made once in DATA/tls (prints its fingerprint)',
    )
    .option('--tls-cert <file>', 'serve https with this certificate (PEM, chain after it)')
    .option('--tls-key <file>', 'the private key of --tls-cert (PEM)')
    .option(
      '--registration <mode>',
      'who may create an account: open (anyone, the default), closed (nobody) or invite (with a one-time code from `tandem admin invite`); the first user always may, and becomes the administrator',
    )
    .option(
      '--log-level <level>',
      `how much to log on stderr, as JSON lines with request ids: ${LOG_LEVEL_NAMES.join(', ')} (default: info)`,
    )
    .option('--verbose', 'the same as --log-level debug')
    .option(
      '--metrics-port <port>',
      'also serve /metrics on this port without a token, for Prometheus (anyone who reaches it reads the counts)',
    )
    .option('--metrics-host <host>', 'the address of --metrics-port (default: 127.0.0.1)')
    .addHelpText(
      'after',
      `\nEach setting can also come from the environment (${SETTING_NAMES.map(envName).join(', ')})\nor from --config FILE, with the flag's name as the key (port = 8080, tls-cert = "cert.pem").\nA flag wins over the environment, which wins over the file.`,
    )
    .action(async (options: ServerOptions) => {
      const settings = await settingsOf(options);
      const { port, host } = settings;
      const logLevel = settings['log-level'];
      const dataDir = settings.data;
      const tls = await tlsMaterial(settings);
      const { openHub } = await import('../../server/hub.js');
      let app;
      try {
        app = await openHub({
          dataDir,
          logLevel,
          registration: settings.registration,
          ...(tls ? { tls: { cert: tls.cert, key: tls.key } } : {}),
        });
      } catch (error) {
        throw new CliError(`cannot open the hub's data in ${dataDir}: ${(error as Error).message}`);
      }
      try {
        await app.listen({ host, port });
      } catch (error) {
        await app.close();
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'EADDRINUSE')
          throw new CliError(
            `port ${port} on ${host} is already in use: stop the other program or pick another with --port`,
          );
        if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND')
          throw new CliError(`cannot listen on ${host}: not an address of this machine`);
        throw new CliError(`cannot listen on ${host}:${port}: ${(error as Error).message}`);
      }
      let metrics: { url: string; close(): Promise<void> } | undefined;
      const metricsPort = settings['metrics-port'];
      if (metricsPort !== undefined) {
        const { startMetricsListener } = await import('../../server/ops/metrics-listener.js');
        const metricsHost = settings['metrics-host'];
        try {
          metrics = await startMetricsListener(app, metricsHost, metricsPort);
        } catch (error) {
          await app.close();
          throw new CliError(
            `cannot serve metrics on ${metricsHost}:${metricsPort}: ${(error as NodeJS.ErrnoException).code === 'EADDRINUSE' ? 'the port is already in use' : (error as Error).message}`,
          );
        }
      }
      const address = app.server.address();
      const actualPort = typeof address === 'object' && address ? address.port : port;
      const shownHost = host.includes(':') ? `[${host}]` : host;
      if (!tls && !isLoopback(host))
        process.stderr.write(
          `warning: listening on ${host} without TLS: device tokens, passwords and files travel in clear over the network; restart with --tls (a generated certificate) or --tls-cert FILE --tls-key FILE\n`,
        );
      // The stop is in place before anyone is told the hub listens: a Ctrl-C right after
      // the line still closes it cleanly.
      const stopped = new Promise<void>((done) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          void Promise.all([metrics?.close(), app.close()]).then(() => done(), done);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      printLine(`listening on ${tls ? 'https' : 'http'}://${shownHost}:${actualPort}`);
      if (metrics) process.stderr.write(`metrics on ${metrics.url}\n`);
      process.stderr.write(`data in ${dataDir}; stop with Ctrl-C\n`);
      await stopped;
    });

  // `server`'s own options are read wherever they appear on the line (commander), so this
  // subcommand takes --data and --tls-cert from them instead of declaring its own.
  server
    .command('fingerprint')
    .description("print the SHA-256 fingerprint of the hub's certificate, as devices pin it")
    .usage('[--config FILE] [--data DIR] [--tls-cert FILE] [--json]')
    .addHelpText(
      'after',
      '\nThe certificate is the one `tandem server --tls` made in DIR/tls (--data, default ./tandem-data),\nor the one given with --tls-cert FILE. The fingerprint is printed as SHA256:<base64>.',
    )
    .addOption(jsonOption())
    .action(async (options: { json?: boolean }, command: Command) => {
      const parent = await settingsOf(command.parent!.opts<ServerOptions>());
      const tlsModule = await import('../../server/tls.js');
      const dataDir = parent.data;
      let info;
      try {
        const certFile = parent['tls-cert'];
        info = certFile
          ? { ...(await tlsModule.certificateFileInfo(certFile)), generated: false }
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

/** The certificate to serve with, from the settings; undefined for plain http. */
async function tlsMaterial(settings: ServerSettings): Promise<TlsMaterial | undefined> {
  const { tls: generate, data: dataDir, host } = settings;
  const certFile = settings['tls-cert'];
  const keyFile = settings['tls-key'];
  if (!generate && !certFile && !keyFile) return undefined;
  if (generate && (certFile || keyFile))
    throw new CliError(
      '--tls makes a certificate and --tls-cert/--tls-key give one: use one or the other',
    );
  if (!generate && (!certFile || !keyFile))
    throw new CliError(
      `--${certFile ? 'tls-key' : 'tls-cert'} is missing: --tls-cert FILE and --tls-key FILE go together`,
    );
  const tls = await import('../../server/tls.js');
  let material: TlsMaterial;
  try {
    if (generate) {
      const made = await tls.ensureGeneratedCertificate(dataDir, host);
      if (made.created)
        process.stderr.write(
          `made a self-signed certificate in ${tls.generatedTlsDir(dataDir)} (valid until ${made.validTo.toISOString().slice(0, 10)}); it is reused on every start\n`,
        );
      material = made;
    } else {
      material = await tls.loadCertificate(certFile!, keyFile!);
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

/** True for addresses only this machine can reach: 127.0.0.0/8, ::1 and localhost. */
function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (bare === 'localhost' || bare === '::1') return true;
  const v4 = bare.replace(/^::ffff:/, '');
  return isIP(v4) === 4 && v4.startsWith('127.');
}
