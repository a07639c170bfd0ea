// The pipeline adapter's wrappers (stdio buffers, parent-death signal) change how a stage is
// started, never what it computes or how its failure reads.
import { createHash, randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { runPipeline } from '../../adapters/pipeline';
import { CommandError } from '../../adapters/process';

function collect(): { sink: Writable; bytes: () => Buffer } {
  const chunks: Buffer[] = [];
  return {
    sink: new Writable({
      write(chunk: Buffer, _e, cb) {
        chunks.push(chunk);
        cb();
      },
    }),
    bytes: () => Buffer.concat(chunks),
  };
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

test('bytes pass through stages with 1 MB stdio buffers unchanged, in order', async () => {
  const input = randomBytes(5 * 1024 * 1024 + 17);
  const out = collect();
  const cat = ['cat'];
  await runPipeline([{ argv: cat, buffers: { output: true } }, { argv: cat, buffers: { input: true, output: true } }, { argv: cat, buffers: { input: true } }], {
    input: Readable.from([input.subarray(0, 1000), input.subarray(1000)]),
    output: out.sink,
    tieToParent: true,
  });
  expect(out.bytes().length).toBe(input.length);
  expect(sha(out.bytes())).toBe(sha(input));
});

test('the buffers reach the stage they are given to, and only that one', async () => {
  const out = collect();
  await runPipeline(
    [
      { argv: ['sh', '-c', 'echo "first: ${_STDBUF_O:-none} ${_STDBUF_I:-none}"; cat'], buffers: { output: true } },
      ['sh', '-c', 'cat; echo "second: ${_STDBUF_O:-none} ${_STDBUF_I:-none}"'],
    ],
    { output: out.sink },
  );
  expect(out.bytes().toString()).toBe('first: 1048576 none\nsecond: none none\n');
});

test('a failing buffered stage is named as given, not by its wrappers', async () => {
  const failing = runPipeline(
    [
      { argv: ['sh', '-c', 'echo broken >&2; exit 3'], buffers: { output: true } },
      { argv: ['cat'], buffers: { input: true } },
    ],
    { tieToParent: true },
  );
  await expect(failing).rejects.toBeInstanceOf(CommandError);
  await expect(failing).rejects.toThrow(/^sh -c echo broken >&2; exit 3 exited with code 3: broken$/);
});
