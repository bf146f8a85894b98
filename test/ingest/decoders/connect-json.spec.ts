import { payloadAfterSchema, skipJsonContainer, splitConnectJson } from '../../../src/ingest/decoders/connect-json';

describe(splitConnectJson.name, () => {
  it('splits the converter layout into schema and payload texts', () => {
    expect(splitConnectJson('{"schema":{"type":"struct","fields":[]},"payload":{"op":"c"}}')).toEqual({
      schema: '{"type":"struct","fields":[]}',
      payload: '{"op":"c"}',
    });
  });

  it('takes a null payload (a wrapped tombstone)', () => {
    expect(splitConnectJson('{"schema":{},"payload":null}')).toEqual({ schema: '{}', payload: 'null' });
  });

  it('ends the schema after its matching brace, whatever its strings hold', () => {
    const schema = JSON.stringify({ doc: 'a "quoted" {brace} [x] \\ ,"payload":{} \\"', fields: [{ doc: '}]' }] });

    expect(splitConnectJson(`{"schema":${schema},"payload":{}}`)).toEqual({ schema, payload: '{}' });
  });

  it.each([
    ['keys in the other order', '{"payload":{},"schema":{}}'],
    ['whitespace after the document', '{"schema":{},"payload":{}} '],
    ['whitespace before the document', ' {"schema":{},"payload":{}}'],
    ['whitespace between the parts', '{"schema":{}, "payload":{}}'],
    ['whitespace after the schema key', '{"schema": {},"payload":{}}'],
    ['whitespace around the payload', '{"schema":{},"payload": {} }'],
    ['a null schema', '{"schema":null,"payload":{}}'],
    ['a third key', '{"schema":{},"payload":{},"extra":1}'],
    ['a payload that is not an object', '{"schema":{},"payload":[1]}'],
    ['an empty payload', '{"schema":{},"payload":}'],
    ['a schema missing its closing brace', '{"schema":{"fields":[{"type":"struct"}],"payload":{}}'],
    ['a string that never ends', '{"schema":{"doc":"abc\\"}'],
  ])('leaves %s to the whole-document path', (_, text) => {
    expect(splitConnectJson(text)).toBeUndefined();
  });

  it('returns the likely schema itself when the text carries it', () => {
    const likely = '{"type":"struct"}';
    const parts = splitConnectJson(`{"schema":${'{"type":"struct"}'},"payload":{}}`, likely);

    expect(parts?.schema).toBe(likely);
    expect(splitConnectJson('{"schema":{"type":"other"},"payload":{}}', likely)).toEqual({ schema: '{"type":"other"}', payload: '{}' });
  });
});

describe(payloadAfterSchema.name, () => {
  const schema = '{"type":"struct","doc":"台北 ,\\"payload\\":{}"}';
  const bytes = Buffer.from(schema, 'utf8');
  const payloadOf = (text: string) => payloadAfterSchema(Buffer.from(text, 'utf8'), bytes)?.toString('utf8');

  it('gives the payload bytes of a message carrying exactly the schema, as splitConnectJson gives its text', () => {
    for (const payload of ['{"op":"c","after":{"name":"林"}}', '{}', 'null']) {
      const text = `{"schema":${schema},"payload":${payload}}`;

      expect(payloadOf(text)).toBe(payload);
      expect(splitConnectJson(text, schema)?.payload).toBe(payload);
    }
  });

  it.each([
    ['another schema of the same length', `{"schema":${schema.replace('struct', 'strucT')},"payload":{}}`],
    ['a longer schema that starts like it', `{"schema":${schema.slice(0, -1)},"x":1},"payload":{}}`],
    ['a shorter schema', '{"schema":{},"payload":{}}'],
    ['another first key', `{"schemA":${schema},"payload":{}}`],
    ['whitespace before the payload key', `{"schema":${schema}, "payload":{}}`],
    ['whitespace after the document', `{"schema":${schema},"payload":{}} `],
    ['a payload that is not an object', `{"schema":${schema},"payload":[1]}`],
    ['a payload of one byte', `{"schema":${schema},"payload":1}`],
    ['nothing after the payload key', `{"schema":${schema},"payload":}`],
    ['the message cut inside the schema', `{"schema":${schema.slice(0, 10)}`],
    ['an empty message', ''],
  ])('leaves %s to splitConnectJson', (_, text) => {
    expect(payloadOf(text)).toBeUndefined();
    // Never a payload where the text path would not give the same one.
    const parts = splitConnectJson(text, schema);
    if (parts !== undefined) expect(parts.schema).not.toBe(schema);
  });
});

describe(skipJsonContainer.name, () => {
  it.each([
    ['{}', 0, 2],
    ['[]', 0, 2],
    ['x{"a":[1,{"b":"}"}]}y', 1, 20],
    ['{"a":"\\\\"}', 0, 10],
    ['{"a":"\\"}"}', 0, 11],
    ['{"a":[}', 0, -1],
    ['{"a":"}', 0, -1],
  ])('finds the end of %s from %i at %i', (text, start, end) => {
    expect(skipJsonContainer(text, start)).toBe(end);
  });
});
