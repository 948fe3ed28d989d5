import nx from '@nx/eslint-plugin';

export default [
  ...nx.configs['flat/base'],
  ...nx.configs['flat/typescript'],
  {
    ignores: ['**/dist', '**/node_modules', '.local/**', '.nx/**', 'coverage/**'],
  },
  {
    files: ['**/*.ts'],
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: true,
          allow: [],
          depConstraints: [
            { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:lib'] },
            { sourceTag: 'type:lib', onlyDependOnLibsWithTags: ['type:lib'] },
          ],
        },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // The no-server tests (the `test` target) take "now" from the options of the code under test,
    // so that they pass at any date and hour (tools/run/test-clock.sh runs them with the clock moved).
    // Elapsed time is measured with performance.now().
    files: ['**/*.spec.ts'],
    ignores: ['**/*.int.spec.ts', '**/*.disruptive.spec.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: "CallExpression[callee.object.name='Date'][callee.property.name='now']",
          message: 'A no-server test must not read the wall clock: pass a fixed instant or a clock option to the code under test.',
        },
        {
          selector: "NewExpression[callee.name='Date'][arguments.length=0]",
          message: 'A no-server test must not read the wall clock: pass a fixed instant or a clock option to the code under test.',
        },
      ],
    },
  },
];
