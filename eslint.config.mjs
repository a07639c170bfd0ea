// Lint: strict TypeScript rules everywhere, and no Node built-ins or I/O libraries in workflows/
// (workflow code must be deterministic; side effects belong in activities).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const nodeBuiltins = ['fs', 'path', 'os', 'child_process', 'crypto', 'http', 'https', 'net', 'stream', 'zlib', 'dns', 'url', 'util', 'process', 'timers'];

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
  {
    files: ['workflows/**/*.ts', 'common/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['node:*', ...nodeBuiltins], message: 'workflows and common/ must not use Node built-ins: put side effects in activities/' },
            // Activities: as types only (the rule below, which knows type imports).
            { group: ['pg', 'yaml', '@temporalio/worker', '@temporalio/client', '@temporalio/activity', '../worker/*', '../client/*', '../sandbox/*'], message: 'no I/O in workflows and common/' },
          ],
        },
      ],
    },
  },
  {
    files: ['workflows/**/*.ts', 'common/**/*.ts'],
    rules: {
      // Activities come in as a type (proxyActivities<Activities>), never as code.
      '@typescript-eslint/no-restricted-imports': ['error', { patterns: [{ group: ['../activities', '../activities/*'], allowTypeImports: true, message: 'import activities as types only' }] }],
    },
  },
);
