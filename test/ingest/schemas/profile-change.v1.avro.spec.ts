import { compileAvro } from '../../../src/ingest/decoders/avro-connect';
import {
  createProfileChangeDecoder,
  PROFILE_CHANGE_V1_AVRO_SCHEMA,
  PROFILE_CHANGE_V1_SCHEMA,
} from '../../../src/ingest/decoders/profile-change.v1.decoder';
import { createFramedDecoder, profileChangeFromAvro } from '../../../src/ingest/decoders/registry-framed.decoder';
import { frame } from '../../../src/schema-registry/wire-format';
import { aProfile, aProfileChange, toMessage } from '../decoders/profile-change.v1.factory';

type JsonSchema = { required: string[]; properties: Record<string, { properties?: Record<string, unknown> }> };
type AvroField = { name: string; type: unknown };

const NOW = Date.parse('2026-11-28T12:00:00.000Z');
const options = { defaultPhoneRegion: 'TW', maxFutureSkewMs: 86_400_000 };
const avroText = JSON.stringify(PROFILE_CHANGE_V1_AVRO_SCHEMA);

describe('profile-change.v1: the Avro schema beside the JSON Schema', () => {
  const json = PROFILE_CHANGE_V1_SCHEMA as unknown as JsonSchema;
  const avro = PROFILE_CHANGE_V1_AVRO_SCHEMA as unknown as { fields: AvroField[] };

  it('has exactly the JSON Schema\'s top-level fields, every one required (no Avro default)', () => {
    expect(avro.fields.map((field) => field.name)).toEqual(json.required);
    expect(Object.keys(json.properties).sort()).toEqual([...json.required].sort());
    expect(avro.fields.every((field) => !('default' in field))).toBe(true);
  });

  it('carries every JSON type a profile value or a custom value can have, and null', () => {
    const profile = avro.fields.find((field) => field.name === 'profile')!.type as { type: string; values: unknown[] };
    expect(profile.type).toBe('map');
    const branches = profile.values.map((branch) => (typeof branch === 'string' ? branch : (branch as { type: string }).type));
    expect(branches).toEqual(['null', 'string', 'boolean', 'double', 'map']);
    const custom = profile.values[4] as { values: string[] };
    expect(custom.values).toEqual(['null', 'string', 'double']);
  });

  it('is a valid Avro schema', () => {
    expect(() => compileAvro(avroText)).not.toThrow();
  });

  const framed = createFramedDecoder('avro', 1024 * 1024, {
    avro: profileChangeFromAvro(createProfileChangeDecoder(options)),
    json: createProfileChangeDecoder(options),
  })(() => ({ id: 11, schemaType: 'AVRO', schema: avroText }));
  const jsonPath = createProfileChangeDecoder(options);
  const { type } = compileAvro(avroText);

  it.each([
    ['the example event', aProfileChange()],
    ['a cleared field and a custom number', aProfileChange({ profile: aProfile({ display_name: null, custom: { points: 120.5, note: null } }) })],
    ['star_mark and region', aProfileChange({ profile: { star_mark: true, region: 'TW' } })],
    ['a key by e-mail', aProfileChange({ key: { display_email: 'Amy@Example.com' } })],
    ['an unknown profile field (an error both ways)', aProfileChange({ profile: { nickname: 'A' } })],
    ['two keys (an error both ways)', aProfileChange({ key: { customer_id: 'C-1', display_email: 'a@example.com' } })],
  ])('decodes %s framed in Avro exactly as its JSON form (an error also names the schema id)', (_name, event) => {
    const expected = jsonPath(toMessage(event), NOW);
    expect(framed(frame(11, type.toBuffer(event)), NOW)).toEqual(expected.kind === 'error' ? { ...expected, schemaId: 11 } : expected);
  });

  it('keeps an absent field absent and a null field null', () => {
    const result = framed(frame(11, type.toBuffer(aProfileChange({ profile: { display_name: null } }))), NOW);
    expect(result).toMatchObject({ kind: 'change', change: { patch: { display_name: null } } });
    expect(result.kind === 'change' && Object.keys(result.change.patch)).toEqual(['display_name']);
  });
});
