import { fieldProblem, isCalendarDate } from '../../src/sandbox/field-rules';
import { validateRow } from '../../src/sandbox/row-validation';

describe('sandbox field rules', () => {
  describe(fieldProblem.name, () => {
    it.each([
      ['display_name', 'Ada'],
      ['display_name', 'é'.repeat(255)],
      ['display_email', 'ada.lovelace+crm@example.co.uk'],
      ['display_mobile', '+886912345678'],
      ['birthday', '2024-02-29'],
      ['gender', 'other'],
      ['region', 'tw'],
      ['star_mark', false],
      ['cl_custom_tier', 'gold'],
      ['cl_custom_score', -1.5],
      ['cl_custom_since', '2024-01-01T08:00:00+08:00'],
      [`cl_custom_${'a'.repeat(50)}`, 1],
      ['city', null],
      ['cl_custom_tier', null],
    ])('accepts %s = %j', (field, value) => {
      expect(fieldProblem(field, value)).toBeUndefined();
    });

    it.each([
      ['age', 30, 'read-only field'],
      ['engagement_level', null, 'read-only field'],
      ['shoe_size', 42, 'unknown field'],
      ['display_name', 'x'.repeat(256), 'must be at most 255 characters'],
      ['display_name', 7, 'must be a string'],
      ['display_email', 'ada@localhost', 'not an e-mail address'],
      ['display_email', `${'a'.repeat(250)}@example.com`, 'must be at most 255 characters'],
      ['display_mobile', '0912345678', 'not an E.164 phone number'],
      ['display_mobile', '+0912345678', 'not an E.164 phone number'],
      ['display_mobile', '+1234567890123456', 'not an E.164 phone number'],
      ['birthday', '2023-02-29', 'not a calendar date in YYYY-MM-DD'],
      ['birthday', '1990-1-2', 'not a calendar date in YYYY-MM-DD'],
      ['gender', 'Male', 'must be one of male, female, other'],
      ['region', 'TW', 'must be one of tw, jp, th, hk, sg, my, cn, kr, mo, id, in, ph, vn, kh, mm, other'],
      ['star_mark', 'true', 'must be a boolean'],
      ['customer_id', '', 'a key value must not be empty'],
      ['cl_custom_', 'x', 'invalid custom field name: after cl_custom_ 1 to 50 characters of a-z, 0-9 and _'],
      [`cl_custom_${'a'.repeat(51)}`, 'x', 'invalid custom field name: after cl_custom_ 1 to 50 characters of a-z, 0-9 and _'],
      ['cl_custom_Tier', 'x', 'invalid custom field name: after cl_custom_ 1 to 50 characters of a-z, 0-9 and _'],
      ['cl_custom_flag', true, 'custom values must be strings or numbers'],
      ['cl_custom_list', ['a'], 'custom values must be strings or numbers'],
      ['cl_custom_tier', 'x'.repeat(256), 'must be at most 255 characters'],
    ])('refuses %s = %j: %s', (field, value, reason) => {
      expect(fieldProblem(field, value)).toBe(reason);
    });
  });

  describe(isCalendarDate.name, () => {
    it('knows leap years and month lengths', () => {
      expect(['2000-02-29', '2024-12-31', '0001-01-01'].map(isCalendarDate)).toEqual([true, true, true]);
      expect(['1900-02-29', '2024-04-31', '2024-13-01', '2024-00-10'].map(isCalendarDate)).toEqual([false, false, false, false]);
    });
  });

  describe(validateRow.name, () => {
    it('reports a missing, cleared or empty import key alone', () => {
      expect(validateRow('customer_id', { age: 3 }, 4)).toEqual([{ index: 4, key: null, field: 'customer_id', reason: 'the import key customer_id is missing' }]);
      expect(validateRow('customer_id', { customer_id: null }, 0)).toEqual([{ index: 0, key: null, field: 'customer_id', reason: 'the import key cannot be cleared' }]);
      expect(validateRow('line_uid', { line_uid: 5 }, 0)).toEqual([{ index: 0, key: 5, field: 'line_uid', reason: 'must be a string' }]);
    });

    it('reports every bad field of a keyed row', () => {
      expect(validateRow('customer_id', { customer_id: 'C-1', age: 3, city: null, gender: 'x' }, 2)).toEqual([
        { index: 2, key: 'C-1', field: 'age', reason: 'read-only field' },
        { index: 2, key: 'C-1', field: 'gender', reason: 'must be one of male, female, other' },
      ]);
    });
  });
});
