// A chain of commands connected by pipes (a | b | c) without a shell. Node feeds the first stage
// and/or reads the last one, so that if this process dies every stage dies with it on a broken
// pipe: a killed worker leaves no pg_dump writing on behind its back. Stages with no pipe to this
// process (one writing a file itself, one reading a file) get a parent-death signal instead.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Transform, Writable, type Readable } from 'node:stream';
import { pipeline as streamPipeline } from 'node:stream/promises';
import { CommandError, tail } from './process';

export interface PipelineOptions {
  env?: NodeJS.ProcessEnv;
  /** Bytes fed into the first stage; otherwise it gets no stdin. */
  input?: Readable;
  /** Where the last stage's stdout goes; otherwise discarded. */
  output?: Writable;
  /** A file descriptor the last stage writes to directly (its bytes never pass through here). */
  outputFd?: number;
  /** Observes every chunk of the last stage's output (hashing, progress). */
  onOutput?: (chunk: Buffer) => void;
  /** Observes every chunk of the input (hashing, progress). */
  onInput?: (chunk: Buffer) => void;
  signal?: AbortSignal;
  /** Every stage is killed (SIGKILL) when this process dies, pipe or no pipe (setpriv), where
   * `canTieToParent()`; elsewhere the option does nothing. */
  tieToParent?: boolean;
}

/** util-linux's setpriv (Debian's essential set): sets a child's parent-death signal. */
const SETPRIV = '/usr/bin/setpriv';
let setprivPresent: boolean | undefined;

/** Whether `tieToParent` takes effect here. */
export function canTieToParent(): boolean {
  return (setprivPresent ??= existsSync(SETPRIV));
}

/** coreutils' stdbuf: sets a program's stdio buffers (through LD_PRELOAD) before it starts. */
const STDBUF = '/usr/bin/stdbuf';
let stdbufPresent: boolean | undefined;

/** Which of a stage's standard streams get 1 MB stdio buffers, where stdbuf is present. pg_dump
 * writes its archive to a pipe, and pg_restore reads one, through stdio, whose buffer on a pipe is
 * 4 KB: 56,000 system calls per 230 MB on each side of the pipe. With 1 MB buffers a backup's
 * processes used about 0.4 core-seconds less (strace and /proc/stat, two cores, where a backup is
 * CPU-bound). A read from a pipe returns what is there: a large input buffer never waits for more
 * bytes than have been written. */
export interface StdioBuffers {
  input?: boolean;
  output?: boolean;
}

/** A stage: its arguments, or its arguments with the stdio buffers it gets. */
export type Stage = readonly string[] | { argv: readonly string[]; buffers: StdioBuffers };

function argvOf(stage: Stage): readonly string[] {
  return 'argv' in stage ? stage.argv : stage;
}

function bufferFlags(stage: Stage): string[] {
  const b = 'argv' in stage ? stage.buffers : undefined;
  if (!b || !(stdbufPresent ??= existsSync(STDBUF))) return [];
  const flags = [...(b.input ? ['-i', '1M'] : []), ...(b.output ? ['-o', '1M'] : [])];
  return flags.length > 0 ? [STDBUF, ...flags] : [];
}

export interface StartedPipeline {
  /** Process id of each stage, as spawned (undefined where the spawn failed). */
  pids: Array<number | undefined>;
  /** Settles when every stage has ended: rejects with the first stage that failed. */
  done: Promise<void>;
}

export async function runPipeline(stages: readonly Stage[], o: PipelineOptions = {}): Promise<void> {
  return startPipeline(stages, o).done;
}

/** Spawns every stage at once and returns their process ids; `done` tells how it ended. */
export function startPipeline(stages: readonly Stage[], o: PipelineOptions = {}): StartedPipeline {
  if (stages.length === 0) throw new TypeError('runPipeline: no stages');
  const tie = o.tieToParent === true && canTieToParent();
  const children: ChildProcess[] = [];
  const stderr: string[] = stages.map(() => '');
  let previous: Readable | undefined;
  for (const [i, stage] of stages.entries()) {
    // Errors name the stage as given, not its setpriv and stdbuf wrappers.
    const argv = argvOf(stage);
    const wrapped = argv.length > 0 ? [...bufferFlags(stage), ...argv] : argv;
    const [file, ...args] = tie && wrapped.length > 0 ? [SETPRIV, '--pdeathsig', 'KILL', '--', ...wrapped] : wrapped;
    if (!file) throw new TypeError('runPipeline: empty stage');
    const first = i === 0;
    const last = i === stages.length - 1;
    const child = spawn(file, args, {
      env: o.env ?? process.env,
      stdio: [
        first ? (o.input ? 'pipe' : 'ignore') : previous,
        last && o.outputFd !== undefined ? o.outputFd : last && !o.output && !o.onOutput ? 'ignore' : 'pipe',
        'pipe',
      ],
    });
    // Our copy of the pipe between two stages must close, or the writer never sees the reader die.
    if (previous) previous.destroy();
    child.stderr?.on('data', (b: Buffer) => {
      stderr[i] = tail((stderr[i] ?? '') + b.toString('utf8'));
    });
    children.push(child);
    previous = last ? undefined : (child.stdout ?? undefined);
  }

  const onAbort = (): void => {
    for (const c of children) c.kill('SIGTERM');
  };
  o.signal?.addEventListener('abort', onAbort, { once: true });

  const exits = children.map(
    (child, i) =>
      new Promise<{ i: number; code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
        child.on('error', (error) => resolve({ i, code: null, signal: null, error }));
        child.on('close', (code, signal) => resolve({ i, code, signal }));
      }),
  );

  const flows: Promise<unknown>[] = [];
  const firstChild = children[0]!;
  const lastChild = children[children.length - 1]!;
  if (o.input && firstChild.stdin) {
    const tap = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        o.onInput?.(chunk);
        cb(null, chunk);
      },
    });
    // A stage that fails early closes its stdin (EPIPE); its exit code tells the real story.
    flows.push(streamPipeline(o.input, tap, firstChild.stdin).catch((e: unknown) => e));
  }
  if ((o.output || o.onOutput) && lastChild.stdout) {
    const tap = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        o.onOutput?.(chunk);
        cb(null, chunk);
      },
    });
    const sink: Writable =
      o.output ??
      new Writable({
        write(_c, _e, cb) {
          cb();
        },
      });
    flows.push(streamPipeline(lastChild.stdout, tap, sink));
  }

  const done = (async (): Promise<void> => {
    try {
      const results = await Promise.all(exits);
      const outputError = await Promise.allSettled(flows);
      // The first stage that failed is the cause; later ones usually only saw a broken pipe.
      const failures = results.filter((r) => r.error || r.code !== 0);
      const failed =
        failures.find((r) => r.signal !== 'SIGPIPE' && !/broken pipe/i.test(stderr[r.i] ?? '')) ?? failures[0];
      if (failed) {
        throw new CommandError(argvOf(stages[failed.i]!), failed.code, failed.signal, failed.error?.message ?? stderr[failed.i] ?? '', {
          cause: failed.error,
        });
      }
      if (o.signal?.aborted) throw new Error('cancelled');
      const rejected = outputError.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (rejected) throw rejected.reason;
    } finally {
      o.signal?.removeEventListener('abort', onAbort);
    }
  })();
  return { pids: children.map((c) => c.pid), done };
}
