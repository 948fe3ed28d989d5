// Shared jest settings for every project: SWC compiles TypeScript (fast, no type
// check; `nx run-many -t lint` and the build's tsc type-check instead), and
// tsconfig path aliases resolve to library sources.
const path = require('node:path');
const { pathsToModuleNameMapper } = require('./tools/jest/paths');

module.exports = {
  testEnvironment: 'node',
  transform: {
    '^.+\\.[tj]s$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' } }],
  },
  moduleFileExtensions: ['ts', 'js', 'json'],
  moduleNameMapper: pathsToModuleNameMapper(path.join(__dirname, 'tsconfig.base.json'), __dirname),
  testMatch: ['**/?(*.)+(spec|test).ts'],
  // By default (`jest -c <project>/jest.config.js`, the `test` target) only the tests that need no
  // server: unit tests and those on the embedded engine (chdb). The `integration` target
  // (*.int.spec.ts: real Kafka / ClickHouse) and the `test-disruptive` target (*.disruptive.spec.ts:
  // they stop servers, so they run last and alone) select their files by name pattern in nx.json.
  testPathIgnorePatterns: ['/node_modules/', '\\.int\\.spec\\.ts$', '\\.disruptive\\.spec\\.ts$'],
};
