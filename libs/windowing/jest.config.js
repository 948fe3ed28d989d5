module.exports = {
  displayName: 'windowing',
  preset: '../../jest.preset.js',
  rootDir: __dirname,
  coverageDirectory: '../../coverage/libs/windowing',
};
