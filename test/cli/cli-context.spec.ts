import { ConfigError } from '../../src/config/app-config';
import { CliContext, serviceUrl } from '../../src/cli/cli-context';

const TOKEN = 'admin-token-of-the-cli-0123';

describe(CliContext.name, () => {
  it('gives a command the admin token with no other variable set: no CAAC key, database or brokers', () => {
    const sut = new CliContext({ ADMIN_TOKEN: TOKEN });

    expect(sut.adminToken()).toBe(TOKEN);
  });

  it('validates a part only when a command asks for it, naming what is missing', () => {
    const sut = new CliContext({ ADMIN_TOKEN: TOKEN });

    expect(() => sut.kafkaConnection()).toThrow(new ConfigError(['KAFKA_BROKERS: is required (comma-separated host:port list)']));
    expect(() => sut.topics()).toThrow(new ConfigError(['SOURCE_TOPICS: is required (topic:format[:mapping-file], comma separated)']));
  });

  it('reads the topics and event rules with their defaults', () => {
    const sut = new CliContext({ SOURCE_TOPICS: 'crm.changes:profile-change.v1' });

    expect(sut.topics()).toEqual({ sourceTopics: [{ topic: 'crm.changes', format: 'profile-change.v1' }], dlqTopic: 'caac-sync.dlq', groupId: 'caac-sync' });
    expect(sut.eventRules()).toEqual({ defaultPhoneRegion: 'TW', maxMessageBytes: 1_048_576, maxFutureSkewMs: 86_400_000 });
  });
});

describe(serviceUrl.name, () => {
  it.each(['https://caac-sync.example.com', 'http://127.0.0.1:3000', 'http://localhost:3000', 'http://[::1]:3000'])('takes %s', (url) => {
    expect(serviceUrl(`${url}/`, false)).toBe(url);
  });

  it('refuses plain http to another machine, which would send the admin token in clear, unless told the network is trusted', () => {
    expect(() => serviceUrl('http://10.0.0.7:3000', false)).toThrow(
      '--url http://10.0.0.7:3000 is plain http to another machine: ADMIN_TOKEN would cross the network in clear; use https://, or --insecure on a network you trust',
    );
    expect(serviceUrl('http://10.0.0.7:3000', true)).toBe('http://10.0.0.7:3000');
  });

  it('refuses what is not an http(s) URL', () => {
    expect(() => serviceUrl('caac-sync:3000', false)).toThrow('--url must be an http(s) URL, not caac-sync:');
    expect(() => serviceUrl('not a url', false)).toThrow('--url not a url is not a URL, e.g. https://caac-sync.internal:3000');
  });
});
