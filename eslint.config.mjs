// Lint: strict TypeScript rules everywhere, and no Node built-ins or I/O libraries in workflows/
// (workflow code must be deterministic; side effects belong in activities).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const nodeBuiltins = ['fs', 'path', 'os', 'child_process', 'crypto', 'http', 'https', 'net', 'stream', 'zlib', 'dns', 'url', 'util', 'process', 'timers'];

/** Forbids imports from the given top-level folders in the given files. */
function layer(files, forbidden, o = {}) {
  return [
    {
      files,
      ...(o.except ? { ignores: o.except } : {}),
      rules: {
        'no-restricted-imports': [
          'error',
          {
            patterns: [
              ...(o.extra ?? []),
              ...forbidden.map((dir) => ({ group: [`../${dir}`, `../${dir}/**`, `../../${dir}`, `../../${dir}/**`], message: `${files[0].split('/')[0]}/ must not import ${dir}/: see the layers in docs/architecture.md` })),
            ],
          },
        ],
      },
    },
  ];
}

export default tseslint.config(
  { ignores: ['node_modules/', '.data/', 'dist/', 'scratch/', 'test-results/', 'coverage/', '**/*.js', '**/*.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/explicit-module-boundary-types': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/only-throw-error': 'off',
      '@typescript-eslint/prefer-promise-reject-errors': 'off',
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    // Tests read loosely typed wire results; the casts document what they expect.
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-unnecessary-type-assertion': 'off' },
  },
  // The house has one direction: each layer imports only the layers below it, and no product code
  // imports the sandbox (docs/architecture.md). Layers from the ground up: common; config and
  // adapters; routing; activities; worker; client. Workflows import common (and activities as a
  // type). The sandbox is a tenant: it may use common, config and adapters, nothing above them.
  ...layer(['common/**/*.ts', 'workflows/**/*.ts'], ['config', 'adapters', 'routing', 'worker', 'client', 'sandbox'], {
    extra: [
      { group: ['node:*', ...nodeBuiltins], message: 'workflows and common/ must not use Node built-ins: put side effects in activities/' },
      { group: ['pg', 'yaml', '@temporalio/worker', '@temporalio/client', '@temporalio/activity'], message: 'no I/O in workflows and common/' },
    ],
  }),
  ...layer(['config/**/*.ts'], ['adapters', 'routing', 'activities', 'workflows', 'worker', 'client', 'sandbox']),
  ...layer(['adapters/**/*.ts'], ['routing', 'activities', 'workflows', 'worker', 'client', 'sandbox']),
  ...layer(['routing/**/*.ts'], ['activities', 'workflows', 'worker', 'client', 'sandbox']),
  ...layer(['activities/**/*.ts'], ['workflows', 'worker', 'client', 'sandbox']),
  ...layer(['worker/**/*.ts'], ['client', 'sandbox']),
  // The client's commands that run servers of the project's own (stack: the sandbox; doctor's
  // builders; temporal-cluster: the Temporal server and UI for a host of your own) are the only
  // product files that may reach the sandbox.
  ...layer(['client/**/*.ts'], ['sandbox'], { except: ['client/stack.ts', 'client/doctor.ts', 'client/temporal-cluster.ts'] }),
  ...layer(['sandbox/**/*.ts'], ['routing', 'activities', 'workflows', 'worker', 'client']),
  {
    files: ['workflows/**/*.ts', 'common/**/*.ts'],
    rules: {
      // Activities come in as a type (proxyActivities<Activities>), never as code.
      '@typescript-eslint/no-restricted-imports': ['error', { patterns: [{ group: ['**/activities', '**/activities/*'], allowTypeImports: true, message: 'import activities as types only' }] }],
    },
  },
);
