import { describe, expect, it } from 'vitest';
import { literalTest, requiredLiterals } from '../../src/core/required-literals.js';
import { seededRandom } from '../helpers.js';

describe('requiredLiterals: what every match of a regex must contain', () => {
  it('reads the literal runs at the top level, each required, and ends a run at anything else', () => {
    const cases: Array<[string, string, string[][]]> = [
      ['.*needle', 'u', [['needle']]],
      ['x+y', '', [['x', 'y']]],
      ['ab+c', '', [['ab', 'c']]],
      ['a?bc*d', '', [['b', 'd']]],
      ['a{0,3}bc{2}d', '', [['bc', 'd']]],
      ['(foo)bar', '', [['bar']]],
      ['[abc]xyz\\.js', '', [['xyz.js']]],
      ['\\bword\\b', '', [['word']]],
      ['function\\s+\\w+\\(', '', [['function', '(']]],
      ['(a|b)+c[)(]d', '', [['c', 'd']]],
      ['x(?=y)z', '', [['x', 'z']]],
      ['a+?b??c', '', [['a', 'c']]],
      ['^import .* from', 'u', [['import ', ' from']]],
      ['(\\w)\\1end', '', [['end']]],
      // Case folding: lowercase, and only ASCII other than k and s (the Kelvin sign and the long s fold to them).
      ['.*NeEdle', 'iu', [['needle']]],
      ['kiss me', 'i', [['i', ' me']]],
      ['Café+x', 'iu', [['caf', 'x']]],
      // Top-level alternatives: a match holds every literal of one of them.
      ['foo|ba+r', '', [['foo'], ['ba', 'r']]],
      ['(a|b)c|d', '', [['c'], ['d']]],
      ['[|]x|\\|y', '', [['x'], ['|y']]],
      // Nothing certain: an alternative without a literal, escapes it does not read, a lone brace.
      ['foo|b?', '', []],
      ['a\\x41b', '', []],
      ['\\p{L}+end', 'u', []],
      ['a{foo}', '', []],
      ['.*', '', []],
    ];
    for (const [source, flags, literals] of cases) expect([source, requiredLiterals(new RegExp(source, flags))]).toEqual([source, literals]);
  });

  it('never names a literal a matching subject lacks (random regexes against random subjects)', () => {
    const rnd = seededRandom(41);
    const atoms = ['a', 'b', 'c', 'ab', 'K', 's', 'é', 'İ', 'Ab', '.', '\\.', '[ab]', '[^a]', '(a|b)', '(?:bc)', '\\d', '\\w', '\\b', '^', '$', '(?=a)', '(?!b)', '(c)\\1', '[\\]a]', 'x', '-', '\\/'];
    const quantifiers = ['', '', '', '*', '+', '?', '{0,2}', '{1,2}', '{2}', '+?', '*?'];
    // With letters in both cases and the characters case folding maps onto others (Kelvin sign, long s, dotted I).
    const alphabet = 'abcx.-1/]ABkKsS\u212a\u017féÉİi';
    let checked = 0;
    let withLiterals = 0;
    for (let n = 0; n < 3000; n++) {
      let source = '';
      for (let k = 1 + rnd(6); k > 0; k--) {
        const atom = atoms[rnd(atoms.length)]!;
        source += atom + (/^[\^$]|^\\b|^\(\?[=!]/.test(atom) ? '' : quantifiers[rnd(quantifiers.length)]!);
      }
      if (rnd(5) === 0) source += '|' + atoms[rnd(atoms.length)] + atoms[rnd(atoms.length)];
      let regex: RegExp;
      try {
        regex = new RegExp(source, ['', 'u', 'i', 'iu'][rnd(4)]);
      } catch {
        continue;
      }
      const literals = requiredLiterals(regex);
      const holds = literalTest(regex);
      if (literals.length > 0) withLiterals++;
      for (let s = 0; s < 40; s++) {
        let subject = '';
        for (let len = rnd(12); len > 0; len--) subject += alphabet[rnd(alphabet.length)];
        if (!regex.test(subject)) continue;
        checked++;
        expect([source, regex.flags, subject, holds === null || holds(subject)]).toEqual([source, regex.flags, subject, true]);
      }
    }
    // The property was tried on many matches, and literals were found for many patterns.
    expect(checked).toBeGreaterThan(5000);
    expect(withLiterals).toBeGreaterThan(500);
  });
});
