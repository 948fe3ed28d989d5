module.exports = {
  displayName: 'schema-registry',
  preset: '../../jest.preset.js',
  rootDir: __dirname,
  coverageDirectory: '../../coverage/libs/schema-registry',
};
