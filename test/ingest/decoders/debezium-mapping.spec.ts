import { parseDebeziumMapping } from '../../../src/ingest/decoders/debezium-mapping';
import { exampleMappingJson } from './debezium.factory';

function aMapping(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { keys: [{ column: 'customer_id', type: 'customer_id' }], fields: { name: 'display_name' }, ...overrides };
}

describe(parseDebeziumMapping.name, () => {
  it('parses the shipped example', () => {
    const sut = parseDebeziumMapping(exampleMappingJson(), 'customers.mapping.json');

    expect(sut.deletePolicy).toBe('ignore');
    expect(sut.columns.map((c) => [c.column, c.field, c.convert])).toEqual([
      ['customer_id', 'customer_id', 'auto'],
      ['first_name', 'cl_custom_first_name', 'auto'],
      ['last_name', 'cl_custom_last_name', 'auto'],
      ['email', 'display_email', 'auto'],
      ['mobile', 'display_mobile', 'auto'],
      ['birthday', 'birthday', 'date'],
      ['gender', 'gender', 'auto'],
      ['tier', 'member_level', 'lowercase'],
      ['points', 'cl_custom_points', 'auto'],
      ['opt_in_sms', 'cl_custom_opt_in_sms', 'boolean-string'],
      ['updated_at', 'cl_custom_crm_updated_at', 'timestamp-micros'],
    ]);
    expect(sut.byColumn.get('gender')?.values?.get('M')).toBe('male');
  });

  it('accepts custom fields as custom.<name> and as cl_custom_<name>', () => {
    const sut = parseDebeziumMapping(aMapping({ fields: { a: 'custom.alpha', b: 'cl_custom_beta' } }), 'm.json');

    expect(sut.columns.map((c) => c.field)).toEqual(['cl_custom_alpha', 'cl_custom_beta']);
  });

  it('says which name was most likely meant for a misspelt field, key type or conversion', () => {
    const input = {
      keys: [{ column: 'member_no', type: 'customerid' }],
      fields: { level: 'memberlevel', dob: { field: 'birthday', convert: 'dates' }, nick: 'nickname' },
    };

    expect(() => parseDebeziumMapping(input, 'members.mapping.json')).toThrow(
      [
        'Debezium mapping members.mapping.json is invalid:',
        '- keys[0].type: must be one of line_uid, display_email, display_mobile, connect_id, customer_id (did you mean "customer_id"?)',
        '- fields.level: "memberlevel" is not a CAAC field (did you mean "member_level"?) (custom fields: custom.<name>)',
        '- fields.dob.convert: must be one of auto, none, date, timestamp, timestamp-micros, timestamp-nanos, string, boolean-string, lowercase (did you mean "date"?)',
        '- fields.nick: "nickname" is not a CAAC field (custom fields: custom.<name>)',
      ].join('\n'),
    );
  });

  it('names every problem, one a line', () => {
    // `__proto__` is spliced into the JSON text: in an object literal it would set the prototype.
    const input = {
      keys: [{ column: 'id', type: 'uid' }, { column: '' }],
      fields: {
        age: 'age',
        nick: 'nickname',
        a: 'custom.Points',
        b: { field: 'display_name', convert: 'upper', extra: 1 },
        c: { field: 'city', values: { x: {} } },
        d: 'city',
        e: 42,
      },
      delete_policy: 'purge',
      version: 2,
    };

    expect(() => parseDebeziumMapping(JSON.parse(JSON.stringify(input).replace('"e":42', '"__proto__":"display_name","e":42')), 'config/customers.mapping.json')).toThrow(
      [
        'Debezium mapping config/customers.mapping.json is invalid:',
        '- unknown property "version" (expected keys, fields, delete_policy, description)',
        '- keys[0].type: must be one of line_uid, display_email, display_mobile, connect_id, customer_id',
        '- keys[1]: the column must be a non-empty string',
        '- keys[1].type: must be one of line_uid, display_email, display_mobile, connect_id, customer_id',
        '- fields.age: "age" is read-only in CAAC',
        '- fields.nick: "nickname" is not a CAAC field (custom fields: custom.<name>)',
        '- fields.a: "custom.Points": custom field names must be 1 to 50 characters of a-z, 0-9 and _',
        '- fields.b: unknown property "extra" (expected field, convert, values)',
        '- fields.b.convert: must be one of auto, none, date, timestamp, timestamp-micros, timestamp-nanos, string, boolean-string, lowercase',
        '- fields.c.values.x: must be a string, a number, a boolean or null',
        '- fields.d: field city is already mapped from column "c"',
        '- fields.__proto__: "__proto__" is not allowed as a column name',
        '- fields.e: must be a field name or { "field", "convert"?, "values"? }',
        '- delete_policy: must be one of ignore, clear, dead-letter',
      ].join('\n'),
    );
  });

  it.each([
    ['not an object', [], '- the mapping must be a JSON object'],
    ['no keys', aMapping({ keys: [] }), '- keys: must be a non-empty array of { "column", "type" }, in priority order'],
    ['no fields', aMapping({ fields: {} }), '- fields: must be an object with at least one "column": "field" entry'],
    [
      'a key column listed twice',
      aMapping({ keys: [{ column: 'id', type: 'customer_id' }, { column: 'id', type: 'connect_id' }] }),
      '- keys[1]: column "id" is listed twice',
    ],
  ])('rejects %s', (_, input, problem) => {
    expect(() => parseDebeziumMapping(input, 'm.json')).toThrow(`Debezium mapping m.json is invalid:\n${problem}`);
  });

  it('rejects more than 200 custom fields', () => {
    const fields: Record<string, string> = {};
    for (let i = 0; i <= 200; i++) fields[`c${i}`] = `custom.f${i}`;

    expect(() => parseDebeziumMapping(aMapping({ fields }), 'm.json')).toThrow('- fields: at most 200 custom fields, got 201');
  });
});
