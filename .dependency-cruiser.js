// Which folder may import which (STYLE.md §10). Checked by `npm run lint`, part of `npm test`.
module.exports = {
  forbidden: [
    {
      name: 'profile-is-pure',
      comment: 'src/profile is the pure domain: no framework, no driver, nothing else of src/.',
      severity: 'error',
      from: { path: '^src/profile/' },
      to: {
        pathNot: ['^src/profile/', 'node_modules/(libphonenumber-js|ajv|ajv-formats)/'],
        dependencyTypesNot: ['core'],
      },
    },
    {
      name: 'sandbox-is-independent',
      comment: 'src/sandbox is the oracle of every test: it must not share code with the service.',
      severity: 'error',
      from: { path: '^src/sandbox/' },
      to: { path: '^src/', pathNot: '^src/sandbox/' },
    },
    {
      name: 'kafka-stays-behind-its-adapter',
      comment: 'Only src/kafka knows the Kafka client library, so replacing it is a one-folder change.',
      severity: 'error',
      from: { pathNot: '^src/kafka/' },
      to: { path: 'node_modules/kafkajs/' },
    },
    {
      name: 'no-kafka-in-importer-or-caac',
      comment: 'The importer and the CAAC client know nothing of Kafka.',
      severity: 'error',
      from: { path: '^src/(importer|caac)/' },
      to: { path: ['^src/kafka/', '^src/ingest/'] },
    },
    {
      name: 'caac-is-the-only-http-client',
      comment: 'Only src/caac talks HTTP to the Profile API.',
      severity: 'error',
      from: { path: '^src/', pathNot: ['^src/caac/', '^src/sandbox/'] },
      to: { path: 'node_modules/(undici|axios|node-fetch|got)/' },
    },
    {
      name: 'ops-is-the-top',
      comment: 'src/ops reads every stage (health, metrics collection): no stage imports it back, so arrows run one way.',
      severity: 'error',
      from: { path: '^src/', pathNot: ['^src/ops/', '^src/app\\.(module|factory)\\.ts$', '^src/main\\.ts$', '^src/cli/'] },
      to: { path: '^src/ops/' },
    },
    {
      name: 'telemetry-is-a-floor',
      comment: 'src/telemetry (metrics and their names) is imported by every stage and imports none of them.',
      severity: 'error',
      from: { path: '^src/telemetry/' },
      to: { path: '^src/', pathNot: ['^src/telemetry/', '^src/common/'] },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    exclude: { path: '\\.(spec|int-spec|e2e-spec)\\.ts$' },
  },
};
