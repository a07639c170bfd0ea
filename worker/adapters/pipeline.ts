// A chain of commands connected by pipes (a | b | c) without a shell. Node feeds the first stage
// and/or reads the last one, so that if this process dies every stage dies with it on a broken
// pipe: a killed worker leaves no pg_dump writing on behind its back.
import { spawn, type ChildProcess } from 'node:child_process';
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
  /** Told each stage's process id as it starts (stage index, pid). */
  onSpawn?: (stage: number, pid: number) => void;
}

export async function runPipeline(stages: ReadonlyArray<readonly string[]>, o: PipelineOptions = {}): Promise<void> {
  if (stages.length === 0) throw new TypeError('runPipeline: no stages');
  const children: ChildProcess[] = [];
  const stderr: string[] = stages.map(() => '');
  let previous: Readable | undefined;
  for (const [i, stage] of stages.entries()) {
    const [file, ...args] = stage;
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
    if (child.pid !== undefined) o.onSpawn?.(i, child.pid);
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

  try {
    const results = await Promise.all(exits);
    const outputError = await Promise.allSettled(flows);
    // The first stage that failed is the cause; later ones usually only saw a broken pipe.
    const failures = results.filter((r) => r.error || r.code !== 0);
    const failed =
      failures.find((r) => r.signal !== 'SIGPIPE' && !/broken pipe/i.test(stderr[r.i] ?? '')) ?? failures[0];
    if (failed) {
      const stage = stages[failed.i]!;
      throw new CommandError(stage, failed.code, failed.signal, failed.error?.message ?? stderr[failed.i] ?? '', {
        cause: failed.error,
      });
    }
    if (o.signal?.aborted) throw new Error('cancelled');
    const rejected = outputError.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (rejected) throw rejected.reason;
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
  }
}
