import { describe, expect, it } from 'vitest';
import { merge3, splitLines } from '../../src/core/merge3.js';
import { seededRandom } from '../helpers.js';

const text = (...lines: string[]) => lines.map((l) => l + '\n').join('');

describe('merge3', () => {
  it('takes each side’s edits when they touch different stretches', () => {
    const base = text('a', 'b', 'c', 'd', 'e', 'f');
    const ours = text('A', 'b', 'c', 'd', 'e', 'f');
    const theirs = text('a', 'b', 'c', 'd', 'e', 'F', 'g');
    expect(merge3(base, ours, theirs)).toEqual({ clean: true, text: text('A', 'b', 'c', 'd', 'e', 'F', 'g'), conflicts: [] });
  });

  it('takes the same edit made on both sides once', () => {
    const base = text('a', 'b', 'c');
    const both = text('a', 'B', 'c', 'd');
    expect(merge3(base, both, text('a', 'B', 'c', 'd'))).toMatchObject({ clean: true, text: both });
    expect(merge3(base, text('a', 'B', 'c', 'd'), text('a', 'B', 'c'))).toMatchObject({ clean: true, text: text('a', 'B', 'c', 'd') });
  });

  it('reports overlapping edits as a conflict hunk with each side’s lines and 1-based positions', () => {
    const base = text('a', 'b', 'c', 'd');
    const r = merge3(base, text('a', 'OURS', 'c', 'd'), text('a', 'THEIRS', 'THEIRS2', 'c', 'd'), { oursLabel: 'main', theirsLabel: 'exp' })!;
    expect(r.clean).toBe(false);
    expect(r.conflicts).toEqual([
      { base_start: 2, base_lines: 1, ours_start: 2, ours_lines: 1, theirs_start: 2, theirs_lines: 2, base: ['b'], ours: ['OURS'], theirs: ['THEIRS', 'THEIRS2'] },
    ]);
    expect(r.text).toBe(text('a', '<<<<<<< main', 'OURS', '=======', 'THEIRS', 'THEIRS2', '>>>>>>> exp', 'c', 'd'));
  });

  it('treats edits on neighbouring lines and two insertions at one place as conflicts (like git)', () => {
    const base = text('a', 'b', 'c');
    expect(merge3(base, text('A', 'b', 'c'), text('a', 'B', 'c'))!.clean).toBe(false);
    expect(merge3(base, text('a', 'x', 'b', 'c'), text('a', 'y', 'b', 'c'))!.conflicts).toMatchObject([{ base_lines: 0, ours: ['x'], theirs: ['y'] }]);
  });

  it('keeps a missing final newline, CRLF endings and text without newlines byte for byte', () => {
    expect(merge3('a\nb\nc', 'A\nb\nc', 'a\nb\nC')!.text).toBe('A\nb\nC');
    expect(merge3('a\r\nb\r\nc\r\nd\r\n', 'A\r\nb\r\nc\r\nd\r\n', 'a\r\nb\r\nc\r\nD\r\n')!.text).toBe('A\r\nb\r\nc\r\nD\r\n');
    const r = merge3('one', 'two', 'three')!;
    expect(r.conflicts[0]).toMatchObject({ base: ['one'], ours: ['two'], theirs: ['three'] });
    // the markers start their own lines even though neither side ends with a newline
    expect(r.text).toBe('<<<<<<< ours\ntwo\n=======\nthree\n>>>>>>> theirs\n');
  });

  it('handles empty texts: an add/add of different content conflicts, a deletion of everything merges', () => {
    expect(merge3('', text('x'), text('y'))!.clean).toBe(false);
    expect(merge3(text('a', 'b'), '', text('a', 'b'))).toMatchObject({ clean: true, text: '' });
    expect(merge3(text('a', 'b', 'c', 'd'), text('b', 'c', 'd'), text('a', 'b', 'c'))).toMatchObject({ clean: true, text: text('b', 'c') });
  });

  it('splitLines keeps line ends and the unterminated last line', () => {
    expect(splitLines('a\nb\r\n\nc')).toEqual(['a\n', 'b\r\n', '\n', 'c']);
    expect(splitLines('')).toEqual([]);
  });

  it('agrees with applying both sides’ edits whenever they are far apart (random texts)', () => {
    const next = seededRandom(19);
    for (let round = 0; round < 200; round++) {
      const base = Array.from({ length: 40 }, (_, i) => `line ${i} ${next(1000)}`);
      // ours edits in the first half, theirs in the second: never overlapping or touching
      const edit = (lines: string[], from: number, to: number) => {
        const out = [...lines];
        const at = from + next(to - from);
        const op = next(3);
        if (op === 0) out[at] = `edited ${next(1e6)}`;
        else if (op === 1) out.splice(at, 1);
        else out.splice(at, 0, `inserted ${next(1e6)}`);
        return out;
      };
      const ours = edit(base, 1, 15);
      const theirsEdited = edit(base.slice(25), 1, 14);
      const theirs = [...base.slice(0, 25), ...theirsEdited];
      const expected = [...ours.slice(0, ours.length - 15), ...theirsEdited];
      const r = merge3(text(...base), text(...ours), text(...theirs))!;
      expect(r.clean, `round ${round}`).toBe(true);
      expect(r.text).toBe(text(...expected));
    }
  });
});
