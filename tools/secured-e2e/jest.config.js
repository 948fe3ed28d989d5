module.exports = {
  displayName: 'secured-e2e',
  preset: '../../jest.preset.js',
  rootDir: __dirname,
  coverageDirectory: '../../coverage/tools/secured-e2e',
};
