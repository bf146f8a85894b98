import { textProblem } from '../../src/profile';

const CONTROL = 'must not contain control characters other than tab and line breaks';
const SURROGATE = 'must not contain a lone surrogate, which is not Unicode text';

describe(textProblem.name, () => {
  it.each([
    ['plain text', 'Amy Lin'],
    ['tab, line feed and carriage return', 'No. 7\tSec. 2\r\nTaipei'],
    ['a surrogate pair (emoji)', 'Amy 😀'],
    ['CJK text', '林愛美'],
    ['DEL and C1 controls, which Postgres stores and mis-decoded CRM text holds', 'a\u007fb\u0080c\u009f'],
    ['an empty string', ''],
  ])('accepts %s', (_, text) => {
    expect(textProblem(text)).toBeUndefined();
  });

  it.each([
    ['U+0000', 'Amy\u0000Lin', `${CONTROL} (found U+0000)`],
    ['U+0001', '\u0001', `${CONTROL} (found U+0001)`],
    ['backspace U+0008', 'a\bb', `${CONTROL} (found U+0008)`],
    ['vertical tab U+000B', 'a\u000bb', `${CONTROL} (found U+000B)`],
    ['form feed U+000C', 'a\fb', `${CONTROL} (found U+000C)`],
    ['escape U+001B', 'a\u001b[31m', `${CONTROL} (found U+001B)`],
    ['unit separator U+001F', 'a\u001f', `${CONTROL} (found U+001F)`],
    ['a lone high surrogate', 'Amy\ud800', `${SURROGATE} (found U+D800)`],
    ['a high surrogate followed by a letter', '\udbffx', `${SURROGATE} (found U+DBFF)`],
    ['a lone low surrogate', 'x\udc00', `${SURROGATE} (found U+DC00)`],
    ['a pair in the wrong order', '\ude00\ud83d', `${SURROGATE} (found U+DE00)`],
  ])('rejects %s, naming it by code point', (_, text, reason) => {
    expect(textProblem(text)).toBe(reason);
  });

  it('names the first offending character and never echoes the text', () => {
    const reason = textProblem('secret@example.com\u0002\u0000');

    expect(reason).toBe(`${CONTROL} (found U+0002)`);
    expect(reason).not.toContain('secret');
  });
});
