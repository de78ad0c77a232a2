import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'resources/**', 'packages/*/resources/**', 'node_modules/**', '.netboot/**', 'coverage/**', 'test/.tmp/**', '.bench/**', '.e2e-cache/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { globalThis: 'readonly', console: 'readonly', process: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', URL: 'readonly', require: 'readonly', module: 'writable', __dirname: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-empty': ['error', { allowEmptyCatch: false }],
    },
  },
  {
    // The pure layer never knows Node-RED exists.
    files: ['lib/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [
        { group: ['node-red', 'node-red/*', '@node-red/*', 'node-red-node-test-helper'], message: 'lib/ is the pure layer: it must not import Node-RED.' },
        { group: ['../nodes/*', '../../nodes/*'], message: 'lib/ must not import node code.' },
      ] }],
    },
  },
  {
    // node files keep `this` as the Node-RED node; aliasing it for closures is the Node-RED idiom
    files: ['nodes/**/*.ts', 'packages/*/nodes/**/*.js'],
    rules: { '@typescript-eslint/no-this-alias': 'off' },
  },
  {
    files: ['scripts/**/*.ts'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['**/*.js', '**/*.cjs'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
