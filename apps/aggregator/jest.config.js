module.exports = {
  displayName: 'aggregator',
  preset: '../../jest.preset.js',
  rootDir: __dirname,
  coverageDirectory: '../../coverage/apps/aggregator',
};
