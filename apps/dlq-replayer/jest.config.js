module.exports = {
  displayName: 'dlq-replayer',
  preset: '../../jest.preset.js',
  rootDir: __dirname,
  coverageDirectory: '../../coverage/apps/dlq-replayer',
};
