module.exports = {
  displayName: 'monitoring',
  preset: '../../jest.preset.js',
  rootDir: __dirname,
  coverageDirectory: '../../coverage/tools/monitoring',
};
