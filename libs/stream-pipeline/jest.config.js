module.exports = {
  displayName: 'stream-pipeline',
  preset: '../../jest.preset.js',
  rootDir: __dirname,
  coverageDirectory: '../../coverage/libs/stream-pipeline',
};
