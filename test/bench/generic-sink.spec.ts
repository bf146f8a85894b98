import { budgetHours, genericSinkCost, importsFor } from '../../bench/generic-sink';

describe(genericSinkCost.name, () => {
  it('sends every event in full imports of 10,000, per key type, against the service imports', () => {
    const sut = genericSinkCost([1_000_000, 10_001], 10);
    expect(sut).toEqual({
      generic_imports: 102,
      generic_budget_hours: 0.113,
      service_imports: 10,
      service_budget_hours: 0.011,
      generic_to_service: 10.2,
    });
  });

  it('counts a partly filled import as a whole one, and none for no rows', () => {
    expect([importsFor(0), importsFor(1), importsFor(10_000), importsFor(10_001)]).toEqual([0, 1, 1, 2]);
  });

  it('turns 15 imports into one minute of the budget', () => {
    expect(budgetHours(900)).toBe(1);
  });
});
