module.exports = {
  displayName: 'topics',
  preset: '../../jest.preset.js',
  rootDir: __dirname,
  coverageDirectory: '../../coverage/tools/topics',
};
