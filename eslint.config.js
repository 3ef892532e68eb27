// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Layers and what each may import (DESIGN.md "Parts and where they live"). */
const layers = {
  core: [],
  protocol: ['core'],
  fs: ['core'],
  store: ['core', 'protocol'],
  server: ['core', 'protocol', 'store', 'fs'],
  agent: ['core', 'protocol', 'fs', 'store'],
};
const all = ['core', 'protocol', 'fs', 'store', 'server', 'agent', 'cli'];

const layerRules = Object.entries(layers).map(([layer, allowed]) => ({
  files: [`src/${layer}/**/*.ts`],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: all
          .filter((other) => other !== layer && !allowed.includes(other))
          .map((other) => ({
            group: [`../${other}/*`, `../../${other}/*`],
            message: `src/${layer} may not import src/${other} (see DESIGN.md).`,
          })),
      },
    ],
  },
}));

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', 'tandem-data/', 'bench/results/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        setImmediate: 'readonly',
        URL: 'readonly',
        fetch: 'readonly',
        AbortController: 'readonly',
        AbortSignal: 'readonly',
        performance: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  ...layerRules,
  {
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: ['node:fs', 'node:fs/promises', 'node:net', 'node:http', 'node:child_process'].map(
            (name) => ({ name, message: 'src/core is pure: no I/O (see DESIGN.md).' }),
          ),
          patterns: all
            .filter((other) => other !== 'core')
            .map((other) => ({
              group: [`../${other}/*`],
              message: `src/core may not import src/${other}.`,
            })),
        },
      ],
    },
  },
);
