import { skipJsonContainer, splitConnectJson } from '../../../src/ingest/decoders/connect-json';

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
