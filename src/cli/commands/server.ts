/** `tandem server`: the hub on its embedded defaults (SQLite + chunk folder under --data). */
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { CliError, printLine } from '../output.js';

export function registerServerCommand(program: Command): void {
  program
    .command('server')
    .description('run the hub: stores every version and keeps devices in step')
    .option('--data <dir>', 'where metadata and chunks live', './tandem-data')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0 picks a free one)', '8080')
    .option('--verbose', 'log every request on stderr')
    .action(async (options: { data: string; host: string; port: string; verbose?: boolean }) => {
      const port = Number(options.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535)
        throw new CliError(`--port must be a number from 0 to 65535, not ${options.port}`);
      const dataDir = resolve(options.data);
      const { openHub } = await import('../../server/hub.js');
      let app;
      try {
        app = await openHub({ dataDir, logger: options.verbose ?? false });
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
      printLine(`listening on http://${host}:${actualPort}`);
      process.stderr.write(`data in ${dataDir}; stop with Ctrl-C\n`);
      await new Promise<void>((done) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          void app.close().then(done, done);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
    });
}
