// The command line's shape: every command, its options and its help, each wired to its action in commands.ts.
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { collect, collectEnv, parseDuration, parseLimit, parsePort, parseServer, parseSize } from './arguments.js';
import { DEFAULT_SERVER } from './client.js';
import {
  addModule, cancel, createInstance, deleteInstance, list, listInstances, run, serve, showInstance, showModule, snapshotInstance, status, wait,
} from './commands.js';

/** The package's version, read when the program is built (not when this module is imported). */
function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

export function buildProgram(): Command {
  const program = new Command('job-dispatcher')
    .description('Run WebAssembly jobs on a wasm-job-dispatcher service (the ~wasm64@1.0 device), or serve one.')
    .version(packageVersion())
    .addOption(
      new Option('-s, --server <url>', 'the service to talk to')
        .env('JOB_DISPATCHER_URL')
        .default(DEFAULT_SERVER)
        .argParser(parseServer),
    )
    .addOption(new Option('--token <token>', 'bearer token, for a service run with API_TOKENS (prefer the env: flags show in ps)').env('JOB_DISPATCHER_TOKEN'))
    .configureHelp({ showGlobalOptions: true })
    .configureOutput({ outputError: (text, write) => write(text.replace(/^error: /, 'job-dispatcher: ')) })
    .showHelpAfterError('(add --help for usage)')
    .exitOverride();
  program.addHelpText('after', `
Exit codes: 0 success, 1 job failed, 2 usage error (or a request the service refused), 3 server unreachable.

Examples:
  $ job-dispatcher serve &
  $ job-dispatcher wasm64@1.0 run --code "add(2,3)" --wait
  completed 5
  $ job-dispatcher wasm64@1.0 run --local --code "div(1,0)"
  failed WASM64_TRAP: divide by zero
  $ echo hi | job-dispatcher wasm64@1.0 run --module prog.wasm --arg -v --env NAME=ao --stdin-file - --wait
  (the program's stdout on stdout, its stderr and the job's line, e.g. \`completed exit 0\`, on stderr)`);

  const device = program
    .command('wasm64@1.0')
    .alias('~wasm64@1.0')
    .description('the ~wasm64@1.0 device: submit jobs and read them');

  device
    .command('run')
    .description('submit a job; prints its id, or with --wait its result')
    .addOption(new Option('-c, --code <expression>', 'the call, e.g. "add(2,3)"').conflicts(['function', 'param']))
    .option('-f, --function <name>', 'the exported function to call (with --param)')
    .option('-p, --param <value>', 'a parameter of --function (repeat it: --param 2 --param 3)', collect)
    .addOption(new Option('-m, --module <file>', 'the module to run instead of the default one: a .wasm binary or WebAssembly text (.wat)').conflicts('moduleId'))
    .option('--module-id <id>', 'a module stored with `modules add` (sha256:...)')
    .option('--fuel <units>', 'stop the job after this many instructions (WASM64_FUEL_EXHAUSTED); the job reports fuel_used', parseLimit)
    .option('--memory-limit <size>', "cap the module's memory: bytes, or 64KiB, 16MiB, 1GiB (whole 64 KiB pages)", parseSize)
    .option('-a, --arg <value>', 'WASI: a program argument after argv[0] (repeat it: --arg -n --arg 3)', collect)
    .option('-e, --env <NAME=value>', 'WASI: an environment variable of the program (repeat it)', collectEnv)
    .addOption(new Option('--stdin <text>', "WASI: the program's standard input, as text").conflicts('stdinFile'))
    .option('--stdin-file <file>', "WASI: the program's standard input from a file, or - for this command's own stdin")
    .option('--deterministic', 'WASI: fixed clocks and a seeded random stream, so the same job prints the same output')
    .option('--seed <seed>', 'WASI: the seed of the deterministic random stream (a number or a string)')
    .option('-t, --timeout <duration>', 'stop the job after this long: 500ms, 5s, 2m (the server caps it)', parseDuration)
    .option('--idempotency-key <key>', 'repeating a run with the same key and call returns the same job, not a new one')
    .option('-w, --wait', 'wait for the job and print its result')
    .option('--json', "print the API's JSON instead of a short line")
    .option('--instance <id>', 'run against this live instance (instances create) instead of a fresh one')
    .option('--message <json>', 'with --instance: an AO message, passed to the process\'s handle() as JSON')
    .option('--message-env <json>', 'with --message: the env object handle() gets (default {})')
    .addOption(new Option('--local', 'run the job in this process on its own small pool: no server needed').implies({ wait: true }))
    .action(run);

  device.command('status').description("print a job's state: `completed 5`, `failed WASM64_TRAP: ...`").argument('<id>', 'the job id').option('--json', "print the API's JSON").action(status);
  device.command('wait').description('wait until a job ends, then print it like status').argument('<id>', 'the job id').option('--json', "print the API's JSON").action(wait);
  device.command('cancel').description('cancel a queued or running job; prints it: `cancelled WASM64_CANCELLED: ...`').argument('<id>', 'the job id').option('--json', "print the API's JSON").action(cancel);
  device
    .command('list')
    .description('list jobs, newest first: id, created, call, state')
    .addOption(new Option('--status <status>', 'only jobs in this state').choices(['queued', 'running', 'completed', 'failed', 'cancelled']))
    .option('-n, --limit <count>', 'jobs per page (the service allows 1 to 1000; default 50)', parseLimit)
    .option('--cursor <cursor>', 'the page after this one (printed on stderr after a full page)')
    .option('--json', "print the API's JSON page")
    .action(list);

  const modules = device.command('modules').description('store a module once, then run it by id with run --module-id');
  modules.command('add').description('upload a .wasm binary or WebAssembly text; prints its module id').argument('<file>', 'the module').option('--json', "print the API's JSON description").action(addModule);
  modules.command('show').description("print a stored module's exports, imports and memory").argument('<id>', 'the module id (sha256:...)').option('--json', "print the API's JSON").action(showModule);

  const instances = device.command('instances').description('live instances (AO processes): created once, then called by run --instance ID');
  instances
    .command('create')
    .description('create an instance of a module (or restore one with --snapshot); prints its id')
    .argument('[file]', 'the module: a .wasm binary or WebAssembly text')
    .addOption(new Option('--init <function>', 'what runs once at creation (default: _initialize when exported)').choices(['_initialize', '_start', 'none']))
    .option('-a, --arg <value>', 'WASI: an argument every call sees after argv[0] (repeat it)', collect)
    .option('-e, --env <NAME=value>', 'WASI: an environment variable every call sees (repeat it)', collectEnv)
    .option('--seed <seed>', 'the seed of the instance\'s random stream (a number or a string)')
    .option('--no-deterministic', 'real clocks and random bytes instead of the virtual clock and seeded stream')
    .option('--fuel <units>', 'fuel each call gets', parseLimit)
    .option('--memory-limit <size>', 'cap the instance\'s memory: bytes, or 64KiB, 16MiB, 1GiB', parseSize)
    .option('--snapshot <file>', 'restore the snapshot in this file (from instances snapshot --out)')
    .option('--json', "print the API's JSON")
    .action(createInstance);
  instances.command('list').description('one line per instance: id, resident or evicted, messages, memory, module').option('--json', "print the API's JSON").action(listInstances);
  instances.command('show').description('print an instance like list does').argument('<id>', 'the instance id').option('--json', "print the API's JSON").action(showInstance);
  instances.command('delete').description('delete an instance; its waiting jobs end cancelled').argument('<id>', 'the instance id').option('--json', "print the API's JSON").action(deleteInstance);
  instances.command('snapshot').description("print an instance's snapshot (JSON), or write it to --out FILE").argument('<id>', 'the instance id').option('-o, --out <file>', 'write it to this file').action(snapshotInstance);

  program
    .command('serve')
    .description('start the service in this process (same as npm start); configured by HOST, PORT and the rest of the environment')
    .option('--host <address>', 'address to listen on (sets HOST)')
    .option('--port <port>', 'TCP port, 0 for a free one (sets PORT)', parsePort)
    .action(serve);
  return program;
}
