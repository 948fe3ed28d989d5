module.exports = {
  displayName: 'clickhouse-sink',
  preset: '../../jest.preset.js',
  rootDir: __dirname,
  coverageDirectory: '../../coverage/libs/clickhouse-sink',
};
