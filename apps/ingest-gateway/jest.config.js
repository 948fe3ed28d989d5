module.exports = {
  displayName: 'ingest-gateway',
  preset: '../../jest.preset.js',
  rootDir: __dirname,
  coverageDirectory: '../../coverage/apps/ingest-gateway',
};
