import { closestName, didYouMean } from '../../src/common/did-you-mean';

describe(closestName.name, () => {
  it.each([
    ['e_mail', ['mail', 'phone', 'member_no'], 'mail'],
    ['memberlevel', ['member_level', 'display_name'], 'member_level'],
    ['crm.public.member', ['crm.public.members', 'caac-sync.dlq'], 'crm.public.members'],
  ])('takes %s for a typo of %s', (name, known, expected) => {
    expect(closestName(name, known)).toBe(expected);
  });

  it.each([
    ['city', ['company', 'region']],
    ['nickname', ['display_name', 'full_name']],
    ['mail', ['mail']],
    ['x', []],
  ])('suggests nothing for %s among %s (too far, or the same)', (name, known) => {
    expect(closestName(name, known)).toBeUndefined();
  });
});

describe(didYouMean.name, () => {
  it('words the suggestion for a message, or adds nothing', () => {
    expect(didYouMean('dates', ['date', 'timestamp'])).toBe(' (did you mean "date"?)');
    expect(didYouMean('anything', ['date'])).toBe('');
  });
});
