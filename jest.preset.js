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
  // Tests that stop shared servers run alone, in the test-disruptive targets.
  testPathIgnorePatterns: ['/node_modules/', '\\.disruptive\\.spec\\.ts$'],
};
